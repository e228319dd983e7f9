/*
 * chatload's pidgin-sipe harness: signs on to a SIP server with Debian's
 * pidgin-sipe (a real Lync client: its own NTLM and MS-SIPAE signing) through
 * libpurple, and reports whether the sign-on succeeded; optionally joins a
 * Persistent Chat room, posts to it and prints what it receives.
 *
 *   sipe-harness SERVER:PORT USER@DOMAIN LOGIN TIMEOUT-SECONDS [TRANSPORT]
 *
 * TRANSPORT is sipe's account transport, tcp (the default) or tls. Over tls,
 * SIPE_TLS_PEER=FILE names the PEM certificate the server presents; the
 * harness trusts exactly that certificate for the server's host (see
 * trust_peer). Without it libpurple verifies the server against the system's
 * CAs.
 *
 * The password is read from the environment (SIPE_PASSWORD), never from the
 * command line. Exit status: 0 signed on, 1 connection error (printed),
 * 2 usage or setup error, 3 timeout. SIPE_LINGER=N stays signed on N
 * seconds before exiting (a connection error meanwhile is exit 1). With SIPE_DEBUG=1 libpurple's and
 * sipe's debug output goes to stderr.
 *
 * Persistent Chat: SIPE_ROOM=ma-chan://DOMAIN/ID joins that room after
 * sign-on (purple's join-chat; sipe finds the chat service itself, from
 * in-band provisioning) and prints "joined ROOM-NAME"; SIPE_POST=TEXT then
 * posts TEXT to the room and prints "posted"; every room message received is
 * printed as "received SENDER<TAB>MESSAGE". In this mode the harness runs
 * until its standard input closes (exit 0 when it had joined) or the
 * timeout (exit 3).
 *
 * Written for chatload against libpurple's public API (purple.h).
 */
#include <glib.h>
#include <purple.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dlfcn.h>
#include <libxml/parser.h>

#define UI_ID "chatload-sipe-harness"

/*
 * sipe parses every XML body (provisioning, XCCOS) with libxml2's SAX1
 * callbacks in a handler marked XML_SAX2_MAGIC. Debian 12's libxml2
 * (2.9.14+dfsg-1.3~deb12u5) then calls none of them and reports success, so
 * sipe sees an empty document (seen here: the provisioning answer and every
 * XCCOS INFO were "ignored"). The harness exports this wrapper (linked with
 * -rdynamic, it takes the place of libxml2's for sipe) and hands libxml2 a
 * copy of the handler marked as a plain SAX1 one, which libxml2 honours.
 * The XML and what sipe does with it are unchanged.
 */
int xmlSAXUserParseMemory(xmlSAXHandlerPtr sax, void *user_data, const char *buffer, int size)
{
	static int (*real)(xmlSAXHandlerPtr, void *, const char *, int);
	xmlSAXHandler copy;
	if (!real)
		real = (int (*)(xmlSAXHandlerPtr, void *, const char *, int))dlsym(RTLD_NEXT, "xmlSAXUserParseMemory");
	if (sax && sax->initialized == XML_SAX2_MAGIC && !sax->startElementNs && !sax->endElementNs && sax->startElement) {
		copy = *sax;
		copy.initialized = 1;
		return real(&copy, user_data, buffer, size);
	}
	return real(sax, user_data, buffer, size);
}

static GMainLoop *loop;
static int result = 3;
static gboolean joined, signedon;

/* libpurple's event loop on glib's main loop. */
typedef struct {
	PurpleInputFunction fn;
	gpointer data;
} io_closure;

static gboolean io_invoke(GIOChannel *source, GIOCondition cond, gpointer data)
{
	io_closure *c = data;
	int cond_p = 0;
	if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR))
		cond_p |= PURPLE_INPUT_READ;
	if (cond & (G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL))
		cond_p |= PURPLE_INPUT_WRITE;
	c->fn(c->data, g_io_channel_unix_get_fd(source), cond_p);
	return TRUE;
}

static guint input_add(gint fd, PurpleInputCondition cond, PurpleInputFunction fn, gpointer data)
{
	io_closure *c = g_new0(io_closure, 1);
	GIOChannel *ch;
	GIOCondition gc = 0;
	guint id;
	c->fn = fn;
	c->data = data;
	if (cond & PURPLE_INPUT_READ)
		gc |= G_IO_IN | G_IO_HUP | G_IO_ERR;
	if (cond & PURPLE_INPUT_WRITE)
		gc |= G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL;
	ch = g_io_channel_unix_new(fd);
	id = g_io_add_watch_full(ch, G_PRIORITY_DEFAULT, gc, io_invoke, c, g_free);
	g_io_channel_unref(ch);
	return id;
}

static PurpleEventLoopUiOps loop_ops = {
	g_timeout_add, g_source_remove, input_add, g_source_remove, NULL,
	g_timeout_add_seconds, NULL, NULL, NULL,
};

static gboolean quit(gpointer unused)
{
	(void)unused;
	g_main_loop_quit(loop);
	return FALSE;
}

/* Standard input closed: the driving test is done with the room. */
static void stdin_readable(gpointer unused, gint fd, PurpleInputCondition cond)
{
	char buf[256];
	(void)unused;
	(void)cond;
	if (read(fd, buf, sizeof buf) > 0)
		return;
	result = joined ? 0 : 3;
	g_main_loop_quit(loop);
}

/* Posts SIPE_POST once sipe has finished setting the room up (it attaches
 * its session to the conversation only after chat-joined returns). */
static gboolean post_to_room(gpointer data)
{
	PurpleConversation *conv = data;
	purple_conv_chat_send(PURPLE_CONV_CHAT(conv), getenv("SIPE_POST"));
	printf("posted\n");
	fflush(stdout);
	return FALSE;
}

static void chat_joined(PurpleConversation *conv, gpointer unused)
{
	const char *post = getenv("SIPE_POST");
	(void)unused;
	joined = TRUE;
	printf("joined %s\n", purple_conversation_get_name(conv));
	fflush(stdout);
	if (post && *post)
		g_idle_add(post_to_room, conv);
}

static void received_chat_msg(PurpleAccount *account, char *sender, char *message, PurpleConversation *conv,
			      PurpleMessageFlags flags, gpointer unused)
{
	(void)account;
	(void)conv;
	(void)flags;
	(void)unused;
	printf("received %s\t%s\n", sender ? sender : "", message ? message : "");
	fflush(stdout);
}

static void signed_on(PurpleConnection *gc, gpointer unused)
{
	const char *linger = getenv("SIPE_LINGER");
	const char *room = getenv("SIPE_ROOM");
	(void)unused;
	printf("signed on as %s\n", purple_account_get_username(purple_connection_get_account(gc)));
	fflush(stdout);
	result = 0;
	signedon = TRUE;
	if (room && *room) {
		/* sipe's chat component "uri"; sipe queues the join until its
		 * chat service session is up. */
		GHashTable *components = g_hash_table_new(g_str_hash, g_str_equal);
		g_hash_table_insert(components, "uri", (gpointer)room);
		result = 3;
		serv_join_chat(gc, components);
		g_hash_table_destroy(components);
		purple_input_add(0, PURPLE_INPUT_READ, stdin_readable, NULL);
		return;
	}
	/* SIPE_LINGER=N: stay signed on N seconds (sipe's subscriptions after sign-on). */
	if (linger && atoi(linger) > 0)
		g_timeout_add_seconds(atoi(linger), quit, NULL);
	else
		g_main_loop_quit(loop);
}

static void connection_error(PurpleConnection *gc, PurpleConnectionError err, const gchar *desc, gpointer unused)
{
	(void)gc;
	(void)unused;
	printf("connection error %d: %s\n", (int)err, desc ? desc : "");
	fflush(stdout);
	result = 1;
	g_main_loop_quit(loop);
}

static gboolean timed_out(gpointer unused)
{
	(void)unused;
	printf(signedon ? (joined ? "timeout\n" : "timeout: not joined\n") : "timeout: not signed on\n");
	result = 3;
	g_main_loop_quit(loop);
	return FALSE;
}

/*
 * SIPE_TLS_PEER=FILE (tls): the PEM certificate the server presents, stored
 * in this run's purple user dir as the known certificate of the server's
 * host (libpurple's tls_peers pool, what a user's "Accept" would store), so
 * libpurple trusts exactly it. The server's self-signed certificate is no CA
 * certificate, which NSS refuses as a chain (a fatal error, no prompt); a
 * known peer certificate is compared by fingerprint instead.
 */
static gboolean trust_peer(const char *dir, const char *server)
{
	const char *file = getenv("SIPE_TLS_PEER");
	gchar *pem, *host, *pool, *dest;
	gsize len;
	GError *err = NULL;
	const char *colon;
	if (!file || !*file)
		return TRUE;
	if (!g_file_get_contents(file, &pem, &len, &err)) {
		fprintf(stderr, "SIPE_TLS_PEER: %s\n", err->message);
		return FALSE;
	}
	colon = strrchr(server, ':');
	host = colon ? g_strndup(server, colon - server) : g_strdup(server);
	pool = g_build_filename(dir, "certificates", "x509", "tls_peers", NULL);
	dest = g_build_filename(pool, host, NULL);
	if (g_mkdir_with_parents(pool, 0700) != 0 || !g_file_set_contents(dest, pem, len, &err)) {
		fprintf(stderr, "SIPE_TLS_PEER: cannot store the certificate in %s\n", pool);
		return FALSE;
	}
	g_free(pem);
	g_free(host);
	g_free(pool);
	g_free(dest);
	return TRUE;
}

int main(int argc, char **argv)
{
	const char *password = getenv("SIPE_PASSWORD");
	gchar *dir, *username;
	PurpleAccount *account;
	PurpleSavedStatus *status;
	static int handle;

	const char *transport = argc == 6 ? argv[5] : "tcp";

	if (argc < 5 || argc > 6 || !password || !*password || (strcmp(transport, "tcp") != 0 && strcmp(transport, "tls") != 0)) {
		fprintf(stderr, "usage: SIPE_PASSWORD=... %s SERVER:PORT SIP-URI LOGIN TIMEOUT-SECONDS [tcp|tls]\n", argv[0]);
		return 2;
	}
	dir = g_dir_make_tmp("sipe-harness-XXXXXX", NULL);
	if (!dir) {
		fprintf(stderr, "cannot make a temporary directory\n");
		return 2;
	}
	purple_util_set_user_dir(dir);
	if (!trust_peer(dir, argv[1]))
		return 2;
	purple_debug_set_enabled(getenv("SIPE_DEBUG") != NULL);
	/* SIPE_DEBUG=2: sipe logs whole SIP messages too. */
	purple_debug_set_unsafe(getenv("SIPE_DEBUG") && strcmp(getenv("SIPE_DEBUG"), "2") == 0);
	purple_eventloop_set_ui_ops(&loop_ops);
	/* Debian installs pidgin-sipe in /usr/lib/purple-2. */
	purple_plugins_add_search_path("/usr/lib/purple-2");
	if (!purple_core_init(UI_ID)) {
		fprintf(stderr, "libpurple did not initialise\n");
		return 2;
	}
	purple_set_blist(purple_blist_new());
	purple_blist_load();
	purple_plugins_probe(G_MODULE_SUFFIX);
	if (!purple_find_prpl("prpl-sipe")) {
		fprintf(stderr, "the sipe protocol plugin (prpl-sipe) is not installed: apt-get install pidgin-sipe\n");
		return 2;
	}
	loop = g_main_loop_new(NULL, FALSE);
	purple_signal_connect(purple_connections_get_handle(), "signed-on", &handle, PURPLE_CALLBACK(signed_on), NULL);
	purple_signal_connect(purple_connections_get_handle(), "connection-error", &handle, PURPLE_CALLBACK(connection_error), NULL);
	purple_signal_connect(purple_conversations_get_handle(), "chat-joined", &handle, PURPLE_CALLBACK(chat_joined), NULL);
	purple_signal_connect(purple_conversations_get_handle(), "received-chat-msg", &handle, PURPLE_CALLBACK(received_chat_msg), NULL);

	/* sipe's user name is "SIP address,login". */
	username = g_strdup_printf("%s,%s", argv[2], argv[3]);
	account = purple_account_new(username, "prpl-sipe");
	purple_account_set_password(account, password);
	purple_account_set_string(account, "server", argv[1]);
	purple_account_set_string(account, "transport", transport);
	purple_account_set_string(account, "authentication", "ntlm");
	purple_account_set_bool(account, "dont-publish", TRUE);
	purple_accounts_add(account);
	purple_account_set_enabled(account, UI_ID, TRUE);
	status = purple_savedstatus_new(NULL, PURPLE_STATUS_AVAILABLE);
	purple_savedstatus_activate(status);

	g_timeout_add_seconds(atoi(argv[4]) > 0 ? atoi(argv[4]) : 20, timed_out, NULL);
	g_main_loop_run(loop);
	fflush(stdout);
	/* No purple_core_quit: a clean sign-off is not what is tested, and exit frees everything. */
	return result;
}
