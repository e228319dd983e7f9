#!/usr/bin/env bash
# Start a throwaway MIT Kerberos KDC on loopback for chatload's Kerberos tests.
#
#   scripts/krb5/start.sh        prints the run directory on its last line
#
# The directory holds krb5.conf (the clients' configuration: realm, KDC on
# 127.0.0.1:$KRB_PORT), sip.keytab (the key of sip/$KRB_FQDN, for
# chatload serve --auth kerberos --keytab) and the KDC's database and log.
# Principals: user0001..user$KRB_USERS with passwords pass0001.. (the
# embedded server's generated users) and sip/$KRB_FQDN with a random key;
# retired.keytab holds the key of sip/retired.example.test, a principal the
# KDC no longer knows.
# Environment: KRB_PORT (default 5388), KRB_RUNDIR (default a new temp dir),
# KRB_REALM (CHATLOAD.TEST), KRB_FQDN (chatload-serve.example.test),
# KRB_USERS (4). Stop it with scripts/krb5/stop.sh (same KRB_RUNDIR).
# Needs krb5-kdc and krb5-admin-server (Debian), which provide krb5kdc,
# kdb5_util and kadmin.local. Listens on loopback only.
set -euo pipefail
port=${KRB_PORT:-5388}
realm=${KRB_REALM:-CHATLOAD.TEST}
fqdn=${KRB_FQDN:-chatload-serve.example.test}
users=${KRB_USERS:-4}
dir=${KRB_RUNDIR:-$(mktemp -d /tmp/chatload-kdc.XXXXXX)}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
for c in krb5kdc kdb5_util kadmin.local; do
	command -v "$c" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
	command -v "$c" >/dev/null 2>&1 || { echo "krb5/start.sh: $c not found (apt-get install krb5-kdc krb5-admin-server)" >&2; exit 1; }
done
if [ -f "$dir/kdc.pid" ] && kill -0 "$(cat "$dir/kdc.pid")" 2>/dev/null; then
	echo "krb5/start.sh: a KDC already runs from $dir (pid $(cat "$dir/kdc.pid"))" >&2
	exit 1
fi

cat >"$dir/krb5.conf" <<CONF
[libdefaults]
	default_realm = $realm
	dns_lookup_realm = false
	dns_lookup_kdc = false
	rdns = false
	udp_preference_limit = 1
	default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
	default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
	permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
[realms]
	$realm = {
		kdc = 127.0.0.1:$port
	}
[domain_realm]
	.example.test = $realm
	example.test = $realm
CONF
cat >"$dir/kdc.conf" <<CONF
[kdcdefaults]
	kdc_listen = 127.0.0.1:$port
	kdc_tcp_listen = 127.0.0.1:$port
[realms]
	$realm = {
		database_name = $dir/principal
		key_stash_file = $dir/stash
		acl_file = $dir/kadm5.acl
		max_life = 10h 0m 0s
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
	}
[logging]
	kdc = FILE:$dir/kdc.log
CONF
: >"$dir/kadm5.acl"
export KRB5_CONFIG=$dir/krb5.conf KRB5_KDC_PROFILE=$dir/kdc.conf

# kadmin.local without its "No policy specified" chatter; errors still show.
kadm() { kadmin.local -r "$realm" -q "$1" 2>&1 >/dev/null | { grep -v 'No policy specified' >&2 || true; }; }

if [ ! -f "$dir/principal" ]; then
	master=$(head -c 24 /dev/urandom | base64)
	kdb5_util create -s -r "$realm" -P "$master" >/dev/null
	for i in $(seq 1 "$users"); do
		n=$(printf %04d "$i")
		# Pre-authentication required, as Active Directory does: a wrong
		# password is then the KDC's PREAUTH_FAILED.
		kadm "addprinc +requires_preauth -pw pass$n user$n"
	done
	kadm "addprinc -randkey sip/$fqdn"
	kadm "ktadd -k $dir/sip.keytab sip/$fqdn"
	# The keys of user0003 and user0004 as they are (their passwords keep
	# working): clients that sign on with a keytab (--krb5-keytab).
	if [ "$users" -ge 4 ]; then
		kadm "ktadd -norandkey -k $dir/users.keytab user0003 user0004"
	fi
	# A retired pool: its keytab exists, its principal no longer does (the
	# unknown-SPN case).
	kadm "addprinc -randkey sip/retired.example.test"
	kadm "ktadd -k $dir/retired.keytab sip/retired.example.test"
	kadm "delprinc -force sip/retired.example.test"
fi

krb5kdc -r "$realm" -P "$dir/kdc.pid"
# krb5kdc daemonizes once it listens; wait (bounded) for its pid file.
for _ in $(seq 1 50); do
	[ -s "$dir/kdc.pid" ] && break
	sleep 0.1
done
[ -s "$dir/kdc.pid" ] || { echo "krb5/start.sh: the KDC did not start; see $dir/kdc.log" >&2; exit 1; }
echo "KDC for $realm on 127.0.0.1:$port (pid $(cat "$dir/kdc.pid")); sip/$fqdn keytab in $dir/sip.keytab"
echo "$dir"
