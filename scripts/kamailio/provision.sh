#!/usr/bin/env bash
# Writes the db_text database kamailio.cfg reads: version, subscriber, imc_rooms, imc_members.
# start.sh runs it before every start, because imc deletes its rows when it loads them and
# writes them back lossily at shutdown (see README.md).
#
#   provision.sh [DBDIR]     default DBDIR: $KAM_RUNDIR/db
#
# Users user0001..userNNNN @example.test, password passNNNN (KAM_USERS, default 100).
# Rooms room001..roomNNN @conf.example.test (KAM_ROOMS, default 10), each with exactly one
# member row: chatadmin@example.test with flag 5 (owner|invited). imc skips invited members
# in broadcasts and in #list, so this owner is silent, and a room with no member row would
# stop imc from loading every room after it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir=${1:-$KAM_DBDIR}
[[ $KAM_USERS =~ ^[0-9]+$ && $KAM_USERS -ge 1 ]] || { kam_log "KAM_USERS must be a positive integer"; exit 2; }
[[ $KAM_ROOMS =~ ^[0-9]+$ && $KAM_ROOMS -ge 1 ]] || { kam_log "KAM_ROOMS must be a positive integer"; exit 2; }

mkdir -p "$dir"

# Table versions as in /usr/share/kamailio/dbtext/kamailio/version (5.6): auth_db checks
# subscriber = 7. Column definitions as in the same directory.
cat >"$dir/version" <<'EOF'
id(int,auto) table_name(string) table_version(int) 
1:version:1
2:subscriber:7
3:imc_rooms:1
4:imc_members:1
EOF

# calculate_ha1=1: the plain password is used and ha1/ha1b are never read, but the columns
# are not nullable, so they hold a placeholder.
awk -v n="$KAM_USERS" -v d="$KAM_DOMAIN" 'BEGIN {
	print "id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string) "
	for (i = 1; i <= n; i++) printf "%d:user%04d:%s:pass%04d:x:x\n", i, i, d, i
}' >"$dir/subscriber"

# db_text: a ":" inside a value is escaped as "\:".
awk -v n="$KAM_ROOMS" -v d="$KAM_CONF_DOMAIN" 'BEGIN {
	print "id(int,auto) name(string) domain(string) flag(int) "
	for (i = 1; i <= n; i++) printf "%d:room%03d:%s:0\n", i, i, d
}' >"$dir/imc_rooms"

awk -v n="$KAM_ROOMS" -v d="$KAM_CONF_DOMAIN" -v ud="$KAM_DOMAIN" 'BEGIN {
	print "id(int,auto) username(string) domain(string) room(string) flag(int) "
	for (i = 1; i <= n; i++) printf "%d:chatadmin:%s:sip\\:room%03d@%s:5\n", i, ud, i, d
}' >"$dir/imc_members"
