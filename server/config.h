/* config.h — the daemon's configuration: one plain struct, filled from
 * defaults < JSON file < SIPWIRE_* environment < command line.
 *
 * Every problem found on the way is collected (not just the first) with the
 * key path it belongs to, so an operator fixes a file in one pass. No error
 * ever contains a password. docs/configuration.md is the reference. */
#ifndef SIPWIRE_SERVER_CONFIG_H
#define SIPWIRE_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "sip/sip_auth.h"
#include "sip/sip_msg.h"

enum sipwire_log_level {
	SIPWIRE_LOG_ERROR,
	SIPWIRE_LOG_WARN,
	SIPWIRE_LOG_INFO,
	SIPWIRE_LOG_DEBUG,
};

/* How log lines are written (log.h). */
enum sipwire_log_format {
	SIPWIRE_LOG_TEXT,   /* "time LEVEL [subsystem] text" */
	SIPWIRE_LOG_LOGFMT, /* time=... level=... subsys=... call=... msg="..." */
	SIPWIRE_LOG_JSON,   /* one JSON object per line */
};

enum sipwire_mode {
	SIPWIRE_MODE_LOCAL,       /* built-in registrar with the configured users */
	SIPWIRE_MODE_PASSTHROUGH, /* everything is relayed to the pbx block */
};

enum sipwire_transport {
	SIPWIRE_TRANSPORT_UDP,
	SIPWIRE_TRANSPORT_TCP,
	SIPWIRE_TRANSPORT_TLS,
};

/* What a REFER received in a call does. */
enum sipwire_refer_mode {
	SIPWIRE_REFER_PASS,    /* send it on to the other leg (the PBX transfers) */
	SIPWIRE_REFER_GATEWAY, /* the gateway calls the target and replaces the leg */
};

/* Who may send SIP to the UDP/TCP/TLS listeners. */
enum sipwire_accept_from {
	SIPWIRE_ACCEPT_ANY,    /* SIP devices too (they register; calls need a binding) */
	SIPWIRE_ACCEPT_TRUNKS, /* the trunks' addresses only; others: 403, TCP/TLS closed */
};

/* A local account: exactly one of password and ha1 is set. */
struct sipwire_user {
	char *name;
	char *password; /* NULL when ha1 is given */
	char ha1[33];   /* lowercase hex MD5(name:realm:password), or "" */
};

struct sipwire_strlist {
	char **v;
	size_t n;
};

/* Media security toward a trunk. */
enum sipwire_srtp {
	SIPWIRE_SRTP_OFF,  /* plain RTP/AVP */
	SIPWIRE_SRTP_SDES, /* RTP/SAVP keyed by a=crypto (RFC 4568), and nothing else */
};

/* A SIP trunk: a PBX or a carrier the dial plan sends calls to by name.
 * `where` is the key path (or flag) that defined it, for later errors. */
struct sipwire_trunk {
	char *name;            /* a token; not "echo" or "user" (route targets) */
	char *uri;             /* sip:/sips: URI; no port: the host is located by SRV */
	char *outbound_proxy;  /* "" when none */
	char *username;        /* digest credentials, NULL when none */
	char *password;        /* NULL when none; never printed */
	bool register_enabled; /* REGISTER with the trunk (needs the credentials) */
	unsigned expires;      /* the registration interval asked for, seconds */
	/* Addresses (IPv4/IPv6, optionally /prefix) allowed to send calls in;
	 * empty: the trunk's own resolved addresses. */
	struct sipwire_strlist allow_from;
	enum sipwire_srtp srtp; /* what its media speaks, both ways */
	char *where;          /* "trunks[0]", "--trunk[1]", "env SIPWIRE_TRUNKS[0]" */
	char *register_where; /* where register was turned on, "" if it is not */
};

enum sipwire_route_target {
	SIPWIRE_ROUTE_TARGET_ECHO,  /* the built-in echo service */
	SIPWIRE_ROUTE_TARGET_USER,  /* the registered browsers of the (rewritten) user */
	SIPWIRE_ROUTE_TARGET_TRUNK, /* trunks[trunk] */
};

/* One dial plan rule; NULL match fields match anything. */
struct sipwire_route {
	char *match_user;   /* prefix of the Request-URI user part */
	char *match_regex;  /* POSIX extended regular expression on the user part */
	char *match_domain; /* Request-URI host, compared case-insensitively */
	unsigned strip;     /* leading characters removed from the user part */
	char *prepend;      /* put before the user part after strip; NULL: none */
	char *target;       /* "echo", "user" or a trunk name, as configured */
	enum sipwire_route_target target_kind; /* resolved by sipwire_config_finish */
	size_t trunk;                          /* index in trunks when TRUNK */
	char *where; /* "routes[0]", "--route[1]", "env SIPWIRE_ROUTES[0]" */
};

struct sipwire_config {
	char *config_file; /* the file that was read, NULL when none */
	struct {
		char *bind;                                     /* numeric IPv4 or IPv6 address */
		unsigned ws_port, wss_port, sip_port, tls_port; /* 0: listener off */
		bool tls_port_set; /* tls_port was given (else it follows tls.cert_file) */
	} listen;
	struct {
		char *cert_file, *key_file; /* "": self-signed, created in state_dir */
		bool verify_server;         /* check the certificates of TLS servers we call */
		char *ca_file;              /* "": the system's CA store */
	} tls;
	struct {
		struct sipwire_strlist allowed_origins; /* empty: same host only */
		unsigned ping_interval; /* seconds idle before a WebSocket Ping */
		unsigned idle_timeout;  /* seconds without anything (not even a Pong): close */
	} ws;
	char *realm;
	struct sipwire_user *users;
	size_t n_users;
	struct {
		unsigned min_expires, max_expires, default_expires; /* seconds */
		unsigned max_bindings_per_user; /* contacts one user may register */
	} registrar;
	struct {
		/* Failed authentications from one address within failure_window
		 * seconds before it is refused (403) until the window ends. */
		unsigned max_failures, failure_window;
		/* The challenges offered, in order (parsed from the text by
		 * sipwire_config_finish): MD5 and/or SHA-256. */
		char *algorithms_text;
		enum sip_auth_algorithm algorithms[2];
		size_t n_algorithms;
	} auth;
	struct {
		struct sip_limits limits;
		struct {
			unsigned t1, t2, t4; /* milliseconds */
		} timers;
		enum sipwire_accept_from accept_from;
	} sip;
	/* Per-address limits (guard.h) and how long input may take to arrive. */
	struct {
		unsigned connections_per_second; /* new connections from one address; 0 off */
		unsigned connections_per_address; /* open at once from one address; 0 off */
		unsigned requests_per_second;     /* SIP requests from one address; 0 off */
		struct sipwire_strlist exempt;    /* addresses/prefixes never limited */
		unsigned handshake_timeout; /* seconds for a WebSocket's TLS + HTTP upgrade */
		unsigned message_timeout;   /* seconds a partial SIP message may wait on TCP/TLS */
	} limits;
	enum sipwire_mode mode;
	struct {
		char *host; /* "" unless configured; required in passthrough mode */
		unsigned port;
		enum sipwire_transport transport;
	} pbx;
	/* In the order defined: the file's, then the environment's, then the
	 * flags'. The first trunk is the default plan's way out. */
	struct sipwire_trunk *trunks;
	size_t n_trunks;
	/* The dial plan, first match wins; none: the default plan (dialplan.h). */
	struct sipwire_route *routes;
	size_t n_routes;
	/* Calls through the B2BUA. */
	struct {
		unsigned max_calls;         /* concurrent calls; more get 503 */
		unsigned max_per_user;      /* concurrent calls of one user (either end): 486 */
		bool auto_180;              /* ring the caller at once (SIP.js
		                             * autoSendAnInitialProvisionalResponse) */
		unsigned no_answer_timeout; /* seconds before an unanswered call is
		                             * cancelled and the caller gets 408 */
		unsigned session_expires;   /* RFC 4028 interval granted; 0: the peer's */
		enum sipwire_refer_mode refer;
	} calls;
	/* Media: plain RTP toward PBXs, WebRTC (ICE, DTLS-SRTP) toward browsers. */
	struct {
		char *address;          /* advertised for plain RTP; "": listen.bind */
		unsigned rtp_port_min;  /* RTP pairs and ICE ports from min to max */
		unsigned rtp_port_max;
		char *public_ip;        /* behind 1:1 NAT: advertised in ICE; "" none */
		bool ice_lite;          /* answer checks only (RFC 8445 §2.5) */
		unsigned ice_timeout;   /* seconds for ICE to select a pair */
		unsigned timeout;       /* seconds without media that end a call; 0 off */
		bool ws_webrtc;         /* calls to WebSocket clients offer WebRTC */
		unsigned workers;       /* media threads; 0: one per core */
		unsigned realtime_priority; /* SCHED_FIFO priority of the media
		                             * threads; 0: the normal scheduler */
		struct sipwire_strlist codecs; /* carried, in order of preference */
	} media;
	/* The browser softphone served on the WebSocket ports. */
	struct {
		bool enabled;
		char *dir; /* web-demo/: index.html, and node_modules/sip.js/lib */
	} demo;
	enum sipwire_log_level log_level;
	enum sipwire_log_format log_format;
	/* Who may read /metrics: addresses, optionally with /prefix; empty:
	 * nobody (the default is the loopback addresses). */
	struct sipwire_strlist metrics_allow;
	struct {
		/* Seconds a stopping gateway lets calls in progress go on before
		 * it ends them with BYE (new calls get 503 meanwhile); 0: at once. */
		unsigned drain_timeout;
	} shutdown;
	char *state_dir;
};

/* Every error found, each a "key.path: what is wrong" line. */
struct config_errors {
	char **msg;
	size_t count;
	size_t cap;
	bool oom; /* an allocation failed: the list or the config is incomplete */
};

void config_errors_init(struct config_errors *errs);
void config_errors_free(struct config_errors *errs);

/* Fill cfg with the defaults (state_dir is decided by sipwire_config_finish).
 * 0 or -ENOMEM; cfg must be freed with sipwire_config_free either way. */
int sipwire_config_defaults(struct sipwire_config *cfg);
void sipwire_config_free(struct sipwire_config *cfg);

/* The steps of sipwire_config_load, usable one by one. Each returns 0 when it
 * added no error, -EINVAL when it did, -ENOMEM when memory ran out. */
int sipwire_config_load_json(struct sipwire_config *cfg, const char *text, size_t len,
                             const char *source, struct config_errors *errs);
int sipwire_config_load_file(struct sipwire_config *cfg, const char *path,
                             struct config_errors *errs);
/* envp: NULL-terminated "NAME=value" strings; only SIPWIRE_* names are read. */
int sipwire_config_apply_env(struct sipwire_config *cfg, char **envp, struct config_errors *errs);
/* argv[0] is the program name and is skipped. --config is accepted and
 * ignored here (sipwire_config_load reads the file first). */
int sipwire_config_apply_args(struct sipwire_config *cfg, int argc, char **argv,
                              struct config_errors *errs);
/* Derived defaults (tls_port, state_dir from euid and HOME in envp) and the
 * checks that involve several keys. */
int sipwire_config_finish(struct sipwire_config *cfg, char **envp, struct config_errors *errs);

/* The whole thing: defaults, the file named by --config (else SIPWIRE_CONFIG,
 * else none), environment, arguments, finish. 0, -EINVAL (see errs) or -ENOMEM. */
int sipwire_config_load(struct sipwire_config *cfg, int argc, char **argv, char **envp,
                        struct config_errors *errs);

const char *sipwire_log_level_name(enum sipwire_log_level level);
const char *sipwire_log_format_name(enum sipwire_log_format format);

#endif
