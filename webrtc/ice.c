/* ice.c — ICE for one WebRTC leg on libnice 0.1.21; see ice.h.
 *
 * libnice emits its signals synchronously at the end of the call that caused
 * them (nice_agent_set_remote_candidates, nice_agent_restart_stream...), so
 * its handlers here only record what happened; the callbacks of ice.h run
 * from one GSource of our own on the loop (and, for the state changes that
 * precede a datagram, just before on_recv). A callback may free the agent:
 * `busy` counts the callbacks under way and the memory goes when the last
 * one returns.
 */
#include "webrtc/ice.h"

#include <arpa/inet.h>
#include <errno.h>
#include <nice/agent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "webrtc/ice_direct.h"

#define CRED_MAX        256 /* RFC 8839 §5.4: ufrag and pwd are 4..256 and 22..256 ice-chars */
#define FOUNDATION_MAX  32  /* RFC 8839 §5.1 */
#define EVENTS_MAX      16
#define TIMEOUT_DEFAULT 10000
#define TYPE_PREF_SRFLX 100u /* RFC 8445 §5.1.2.2 */
#define DATAGRAM_MAX    65535u

struct local_cand {
	char foundation[FOUNDATION_MAX + 1];
	char address[INET6_ADDRSTRLEN];
	uint16_t port;
	uint32_t priority;
	int family;
};

struct event {
	enum ice_state state;
	const char *reason;
};

struct ice_agent {
	GMainContext *loop, *nice_loop;
	NiceAgent *nice;
	guint stream; /* 0 once closed after a failure */
	gulong sig_state, sig_pair;

	bool lite, controlling;
	uint16_t port_min, port_max;
	unsigned connect_timeout_ms;
	void (*on_recv)(void *arg, uint8_t *buf, size_t len);
	void (*on_state)(void *arg, enum ice_state state, const char *reason);
	void *arg;

	char public_address[INET6_ADDRSTRLEN]; /* "" when none */
	int public_family;

	/* what we advertise: libnice's host candidates as gathered */
	struct local_cand *cands;
	unsigned n_cands;
	char ufrag[CRED_MAX + 1], pwd[CRED_MAX + 1];

	/* the peer, for the current ICE generation */
	bool have_remote, remote_lite;
	char remote_ufrag[CRED_MAX + 1], remote_pwd[CRED_MAX + 1];
	GSList *pending; /* NiceCandidate *, added before ice_agent_start */
	bool end_of_candidates;

	enum ice_state state;
	bool started;       /* ice_agent_start was called for this generation */
	bool awaiting_pair; /* started, and its checks have not selected a pair */
	bool close_pending; /* failed: the stream goes at the next dispatch */
	int64_t start_us;
	GSource *timer;

	struct event events[EVENTS_MAX];
	unsigned n_events;
	GSource *dispatch;
	bool flushing;

	int busy;   /* callbacks under way */
	bool freed; /* ice_agent_free was called during one of them */

	struct ice_stats stats;

	/* Direct mode (on_socket set): once a pair is selected, its socket is
	 * read by the owner and written here; libnice's watch of it is parked
	 * on a context nobody iterates, and the STUN it would handle on that
	 * socket (the peer's checks, our consent checks) is done here. */
	void (*on_socket)(void *arg, int fd);
	bool direct_pending; /* a pair was selected: go direct from the loop */
	int fd;              /* the selected pair's socket while direct; -1 */
	struct ice_direct direct;
	struct sockaddr_storage remote_shown; /* the far end stats.remote names */
};

/* ---- small helpers ---- */

static void drop_source(GSource **s)
{
	if (*s) {
		g_source_destroy(*s);
		g_source_unref(*s);
		*s = NULL;
	}
}

static void free_pending(struct ice_agent *a)
{
	g_slist_free_full(a->pending, (GDestroyNotify)nice_candidate_free);
	a->pending = NULL;
}

static bool is_ice_chars(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '+' || c == '/';
		if (!ok || n >= max)
			return false;
	}
	return n > 0;
}

static int literal_family(const char *s)
{
	struct in6_addr v6;
	struct in_addr v4;
	if (inet_pton(AF_INET, s, &v4) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, &v6) == 1)
		return AF_INET6;
	return 0;
}

static void format_endpoint(const NiceCandidate *c, char *out, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	nice_address_to_string(&c->addr, ip);
	unsigned port = nice_address_get_port(&c->addr);
	if (nice_address_ip_version(&c->addr) == 6)
		snprintf(out, size, "[%s]:%u", ip, port);
	else
		snprintf(out, size, "%s:%u", ip, port);
}

/* ---- callbacks, always from the loop ---- */

static void free_memory(struct ice_agent *a)
{
	g_main_context_unref(a->loop);
	g_main_context_unref(a->nice_loop);
	free(a->cands);
	free(a);
}

static void leave_direct(struct ice_agent *a, bool reattach);
static void schedule_dispatch(struct ice_agent *a);

static void close_stream(struct ice_agent *a)
{
	a->close_pending = false;
	leave_direct(a, false);
	if (a->stream) {
		nice_agent_remove_stream(a->nice, a->stream);
		a->stream = 0;
	}
	free_pending(a);
}

/* Deliver the state changes recorded so far. false: the agent was freed by a
 * callback and must not be touched. */
static bool flush(struct ice_agent *a)
{
	if (a->flushing)
		return true;
	a->flushing = true;
	drop_source(&a->dispatch);
	if (a->close_pending)
		close_stream(a);
	while (a->n_events > 0) {
		struct event ev = a->events[0];
		a->n_events--;
		memmove(&a->events[0], &a->events[1], a->n_events * sizeof a->events[0]);
		a->busy++;
		a->on_state(a->arg, ev.state, ev.reason);
		a->busy--;
		if (a->freed) {
			if (a->busy == 0)
				free_memory(a);
			return false;
		}
		if (a->close_pending)
			close_stream(a);
	}
	a->flushing = false;
	if (a->direct_pending)
		schedule_dispatch(a); /* not from inside libnice's receive callback */
	return true;
}

static void go_direct(struct ice_agent *a);

static gboolean on_dispatch(gpointer data)
{
	struct ice_agent *a = data;
	if (flush(a) && a->direct_pending)
		go_direct(a);
	return G_SOURCE_REMOVE;
}

static void schedule_dispatch(struct ice_agent *a)
{
	if (a->dispatch || a->flushing)
		return;
	a->dispatch = g_idle_source_new();
	g_source_set_priority(a->dispatch, G_PRIORITY_DEFAULT);
	g_source_set_callback(a->dispatch, on_dispatch, a, NULL);
	g_source_attach(a->dispatch, a->loop);
}

static void set_state(struct ice_agent *a, enum ice_state s, const char *reason)
{
	if (a->state == s)
		return;
	a->state = s;
	if (a->n_events == EVENTS_MAX) /* a caller that never lets the loop run: keep the latest */
		a->n_events--;
	a->events[a->n_events++] = (struct event){s, reason};
	schedule_dispatch(a);
}

static void fail(struct ice_agent *a, const char *reason)
{
	a->awaiting_pair = false;
	drop_source(&a->timer);
	/* RFC 7675 §5.1: nothing more is sent; closing the sockets also stops
	 * libnice's checks and keepalives. Not here: libnice may be inside the
	 * call that reported the failure. */
	a->close_pending = true;
	set_state(a, ICE_STATE_FAILED, reason);
	schedule_dispatch(a);
}

static void pair_selected(struct ice_agent *a)
{
	a->awaiting_pair = false;
	drop_source(&a->timer);
	a->stats.connected_ms = (g_get_monotonic_time() - a->start_us) / 1000;
	set_state(a, ICE_STATE_CONNECTED, NULL);
	if (a->on_socket && a->fd < 0) {
		a->direct_pending = true;
		schedule_dispatch(a);
	}
}

static gboolean on_timeout(gpointer data)
{
	struct ice_agent *a = data;
	g_source_unref(a->timer);
	a->timer = NULL;
	if (a->awaiting_pair)
		fail(a, "ICE timeout");
	return G_SOURCE_REMOVE;
}

static void on_component_state(NiceAgent *nice, guint stream, guint component, guint state,
                               gpointer data)
{
	struct ice_agent *a = data;
	if (stream != a->stream || component != 1)
		return;
	switch (state) {
	case NICE_COMPONENT_STATE_CONNECTED:
	case NICE_COMPONENT_STATE_READY:
		/* before ice_agent_start (early checks from the peer) the start
		 * itself looks at the state */
		if (a->started && a->awaiting_pair)
			pair_selected(a);
		break;
	case NICE_COMPONENT_STATE_FAILED:
		if (a->state == ICE_STATE_CHECKING)
			fail(a, "ICE checks failed");
		else if (a->state == ICE_STATE_CONNECTED)
			fail(a, a->awaiting_pair ? "ICE checks failed" : "ICE consent lost");
		break;
	default:
		break;
	}
}

static void on_selected_pair(NiceAgent *nice, guint stream, guint component, NiceCandidate *local,
                             NiceCandidate *remote, gpointer data)
{
	struct ice_agent *a = data;
	if (stream != a->stream || component != 1)
		return;
	format_endpoint(local, a->stats.local, sizeof a->stats.local);
	format_endpoint(remote, a->stats.remote, sizeof a->stats.remote);
}

static void on_nice_recv(NiceAgent *nice, guint stream, guint component, guint len, gchar *buf,
                         gpointer data)
{
	struct ice_agent *a = data;
	/* A copy: flush() may close the stream, and libnice's buffer with it;
	 * and the receiver may grow the packet up to ICE_RECV_ROOM. */
	uint8_t packet[ICE_RECV_ROOM];
	if (len == 0 || len > sizeof packet)
		return;
	memcpy(packet, buf, len);
	/* A state change recorded before this datagram arrived is reported
	 * before it: CONNECTED comes before the first datagram of the pair. */
	if ((a->n_events > 0 || a->close_pending) && !flush(a))
		return;
	if (a->state == ICE_STATE_FAILED)
		return;
	a->stats.rx_packets++;
	a->stats.rx_bytes += len;
	a->busy++;
	a->on_recv(a->arg, packet, len);
	a->busy--;
	if (a->freed && a->busy == 0)
		free_memory(a);
}

/* ---- direct mode ---- */

/* Where libnice's watches of handed-over sockets go: a context nobody
 * iterates, one for the process (a context per agent would cost an
 * eventfd each). */
static GMainContext *parked_context(void)
{
	static GMainContext *parked;
	if (g_once_init_enter(&parked))
		g_once_init_leave(&parked, g_main_context_new());
	return parked;
}

/* The selected pair's socket becomes the owner's to read; from the loop,
 * never inside a libnice call. */
static void go_direct(struct ice_agent *a)
{
	a->direct_pending = false;
	if (a->fd >= 0 || a->state != ICE_STATE_CONNECTED || !a->stream)
		return;
	NiceCandidate *local = NULL, *remote = NULL;
	if (!nice_agent_get_selected_pair(a->nice, a->stream, 1, &local, &remote) || !remote)
		return;
	GSocket *sock = nice_agent_get_selected_socket(a->nice, a->stream, 1);
	if (!sock)
		return;
	int fd = g_socket_get_fd(sock);
	g_object_unref(sock);
	struct sockaddr_storage remote_sa = {0};
	nice_address_copy_to_sockaddr(&remote->addr, (struct sockaddr *)&remote_sa);
	socklen_t remote_len = nice_address_ip_version(&remote->addr) == 6
	                           ? sizeof(struct sockaddr_in6)
	                           : sizeof(struct sockaddr_in);
	gboolean controlling = FALSE;
	g_object_get(a->nice, "controlling-mode", &controlling, NULL);
	/* the role as the checks left it (a conflict may have changed it) */
	ice_direct_init(&a->direct, a->ufrag, a->pwd, a->remote_ufrag, a->remote_pwd, controlling,
	                local ? local->priority : 0, &remote_sa, remote_len,
	                g_get_monotonic_time());
	a->remote_shown = a->direct.remote;
	nice_agent_attach_recv(a->nice, a->stream, 1, parked_context(), NULL, NULL);
	a->fd = fd;
	a->on_socket(a->arg, fd);
}

/* The owner stops reading the socket (it is about to close, or libnice
 * takes it back for a restart's checks). */
static void leave_direct(struct ice_agent *a, bool reattach)
{
	a->direct_pending = false;
	if (a->fd < 0)
		return;
	a->fd = -1;
	a->on_socket(a->arg, -1);
	if (reattach && a->stream)
		nice_agent_attach_recv(a->nice, a->stream, 1, a->nice_loop, on_nice_recv, a);
}

static void format_sockaddr(const struct sockaddr_storage *sa, char *out, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "";
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const void *)sa;
		inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
		snprintf(out, size, "[%s]:%u", ip, ntohs(v6->sin6_port));
	} else {
		const struct sockaddr_in *v4 = (const void *)sa;
		inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
		snprintf(out, size, "%s:%u", ip, ntohs(v4->sin_port));
	}
}

int ice_agent_input(struct ice_agent *a, const uint8_t *buf, size_t len,
                    const struct sockaddr_storage *from, socklen_t from_len)
{
	if (a->fd < 0 || a->state != ICE_STATE_CONNECTED)
		return 0;
	uint8_t out[ICE_DIRECT_STUN_MAX];
	size_t out_len = 0;
	int64_t now = buf[0] < 4 ? g_get_monotonic_time() : 0; /* the clock for STUN only */
	switch (ice_direct_input(&a->direct, buf, len, from, from_len, now, out, &out_len)) {
	case ICE_DIRECT_MEDIA:
		a->stats.rx_packets++;
		a->stats.rx_bytes += len;
		return (int)len;
	case ICE_DIRECT_REPLY:
		sendto(a->fd, out, out_len, 0, (const struct sockaddr *)from, from_len);
		if (!ice_direct_from_pair(&a->direct, &a->remote_shown))
			format_sockaddr(&a->direct.remote, a->stats.remote, sizeof a->stats.remote);
		a->remote_shown = a->direct.remote;
		return 0;
	case ICE_DIRECT_DROP:
		return 0;
	}
	return 0;
}

int ice_agent_fd(const struct ice_agent *a)
{
	return a ? a->fd : -1;
}

int64_t ice_agent_tick(struct ice_agent *a, int64_t now_us)
{
	if (!a || a->fd < 0 || a->state != ICE_STATE_CONNECTED)
		return -1;
	uint8_t out[ICE_DIRECT_STUN_MAX];
	int n = ice_direct_tick(&a->direct, now_us, out);
	if (n == -ETIMEDOUT)
		fail(a, "ICE consent lost");
	else if (n > 0)
		sendto(a->fd, out, (size_t)n, 0, (const struct sockaddr *)&a->direct.remote,
		       a->direct.remote_len);
	return a->state == ICE_STATE_CONNECTED ? ice_direct_due(&a->direct) : -1;
}

/* ---- the stream ---- */

static int read_credentials(struct ice_agent *a)
{
	gchar *ufrag = NULL, *pwd = NULL;
	if (!nice_agent_get_local_credentials(a->nice, a->stream, &ufrag, &pwd))
		return -ENOMEM;
	g_strlcpy(a->ufrag, ufrag, sizeof a->ufrag);
	g_strlcpy(a->pwd, pwd, sizeof a->pwd);
	g_free(ufrag);
	g_free(pwd);
	return 0;
}

/* Our candidates and credentials as libnice has them now. */
static int read_local(struct ice_agent *a)
{
	int rc = read_credentials(a);
	if (rc < 0)
		return rc;
	GSList *list = nice_agent_get_local_candidates(a->nice, a->stream, 1);
	unsigned n = 0;
	struct local_cand *cands = calloc(g_slist_length(list) + 1, sizeof *cands);
	if (!cands) {
		g_slist_free_full(list, (GDestroyNotify)nice_candidate_free);
		return -ENOMEM;
	}
	for (GSList *i = list; i; i = i->next) {
		const NiceCandidate *c = i->data;
		if (c->type != NICE_CANDIDATE_TYPE_HOST ||
		    c->transport != NICE_CANDIDATE_TRANSPORT_UDP)
			continue;
		struct local_cand *l = &cands[n++];
		g_strlcpy(l->foundation, c->foundation, sizeof l->foundation);
		nice_address_to_string(&c->addr, l->address);
		l->port = (uint16_t)nice_address_get_port(&c->addr);
		l->priority = c->priority;
		l->family = nice_address_ip_version(&c->addr) == 6 ? AF_INET6 : AF_INET;
	}
	g_slist_free_full(list, (GDestroyNotify)nice_candidate_free);
	if (n == 0) {
		free(cands);
		return -EADDRNOTAVAIL;
	}
	free(a->cands);
	a->cands = cands;
	a->n_cands = n;
	return 0;
}

/* A new stream with its host candidates gathered (synchronously: there is no
 * STUN or TURN server to wait for). */
static int open_stream(struct ice_agent *a)
{
	/* libnice fixes the role once a stream has gathered; a role conflict
	 * may have changed it since the last one. */
	g_object_set(a->nice, "controlling-mode", (gboolean)(!a->lite && a->controlling), NULL);
	guint id = nice_agent_add_stream(a->nice, 1);
	if (id == 0)
		return -ENOMEM;
	if (a->port_min != 0)
		nice_agent_set_port_range(a->nice, id, 1, a->port_min, a->port_max);
	if (!nice_agent_attach_recv(a->nice, id, 1, a->nice_loop, on_nice_recv, a) ||
	    !nice_agent_gather_candidates(a->nice, id)) {
		nice_agent_remove_stream(a->nice, id);
		return -EADDRNOTAVAIL;
	}
	a->stream = id;
	a->stats.local[0] = a->stats.remote[0] = '\0';
	int rc = read_local(a);
	if (rc < 0) {
		nice_agent_remove_stream(a->nice, id);
		a->stream = 0;
	}
	return rc;
}

/* Back to the start of an ICE generation: new local credentials, no remote
 * ones, the checks stopped; a selected pair keeps carrying media. */
static int restart(struct ice_agent *a)
{
	/* a failed generation's stream is not reused: its sockets were, or
	 * are about to be, closed */
	if (a->close_pending)
		close_stream(a);
	/* the new checks' answers are libnice's to read: the selected pair
	 * carries media through libnice until they select one */
	leave_direct(a, true);
	if (a->stream) {
		if (!nice_agent_restart_stream(a->nice, a->stream))
			return -ENOMEM;
		int rc = read_credentials(a);
		if (rc < 0)
			return rc;
	} else {
		int rc = open_stream(a);
		if (rc < 0)
			return rc;
	}
	free_pending(a);
	a->have_remote = false;
	a->remote_lite = false;
	a->remote_ufrag[0] = a->remote_pwd[0] = '\0';
	a->end_of_candidates = false;
	a->started = false;
	a->awaiting_pair = false;
	drop_source(&a->timer);
	if (a->state != ICE_STATE_CONNECTED)
		set_state(a, ICE_STATE_NEW, NULL);
	return 0;
}

/* ---- the API ---- */

int ice_agent_new(const struct ice_params *p, struct ice_agent **out)
{
	if (!p || !out || !p->on_recv || !p->on_state || p->port_min > p->port_max ||
	    (p->port_min == 0 && p->port_max != 0))
		return -EINVAL;
	*out = NULL;
	int public_family = 0;
	if (p->public_address && p->public_address[0]) {
		public_family = literal_family(p->public_address);
		if (!public_family)
			return -EINVAL;
	}
	if (p->addresses) {
		for (const char *const *s = p->addresses; *s; s++) {
			NiceAddress addr;
			if (!nice_address_set_from_string(&addr, *s) || !literal_family(*s))
				return -EINVAL;
		}
	}

	struct ice_agent *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	a->loop = p->loop ? g_main_context_ref(p->loop) : g_main_context_ref_thread_default();
	a->nice_loop = g_main_context_ref(p->nice_loop ? p->nice_loop : a->loop);
	a->lite = p->lite;
	a->controlling = !p->lite && p->controlling;
	a->port_min = p->port_min;
	a->port_max = p->port_max;
	a->connect_timeout_ms = p->connect_timeout_ms ? p->connect_timeout_ms : TIMEOUT_DEFAULT;
	a->on_recv = p->on_recv;
	a->on_state = p->on_state;
	a->arg = p->arg;
	a->public_family = public_family;
	if (public_family)
		g_strlcpy(a->public_address, p->public_address, sizeof a->public_address);
	a->state = ICE_STATE_NEW;
	a->stats.connected_ms = -1;
	a->on_socket = p->on_socket;
	a->fd = -1;

	/* Direct mode does consent freshness itself on the socket it reads;
	 * libnice's would wait for answers it never sees. */
	NiceAgentOption flags = NICE_AGENT_OPTION_REGULAR_NOMINATION;
	if (!p->on_socket)
		flags |= NICE_AGENT_OPTION_CONSENT_FRESHNESS;
	if (p->lite)
		flags |= NICE_AGENT_OPTION_LITE_MODE;
	a->nice = nice_agent_new_full(a->nice_loop, NICE_COMPATIBILITY_RFC5245, flags);
	if (!a->nice) {
		free_memory(a);
		return -ENOMEM;
	}
	/* Keepalives as checks would fail the component in direct mode, where
	 * their answers go to the owner; indications need no answer. */
	g_object_set(a->nice, "ice-tcp", FALSE, "ice-udp", TRUE, "stun-server", NULL,
	             "keepalive-conncheck", (gboolean)!p->on_socket, NULL);
	if (g_object_class_find_property(G_OBJECT_GET_CLASS(a->nice), "upnp"))
		g_object_set(a->nice, "upnp", FALSE, NULL);
	if (p->addresses) {
		for (const char *const *s = p->addresses; *s; s++) {
			NiceAddress addr;
			nice_address_set_from_string(&addr, *s);
			nice_agent_add_local_address(a->nice, &addr);
		}
	}
	a->sig_state =
	    g_signal_connect(a->nice, "component-state-changed", G_CALLBACK(on_component_state), a);
	a->sig_pair =
	    g_signal_connect(a->nice, "new-selected-pair-full", G_CALLBACK(on_selected_pair), a);

	int rc = open_stream(a);
	if (rc < 0) {
		ice_agent_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void ice_agent_free(struct ice_agent *a)
{
	if (!a || a->freed)
		return;
	drop_source(&a->timer);
	drop_source(&a->dispatch);
	a->n_events = 0;
	leave_direct(a, false);
	if (a->nice) {
		g_signal_handler_disconnect(a->nice, a->sig_state);
		g_signal_handler_disconnect(a->nice, a->sig_pair);
		if (a->stream)
			nice_agent_remove_stream(a->nice, a->stream);
		a->stream = 0;
		/* libnice may hold a reference for a while (inside its own
		 * receive callback); nothing of ours is reachable from it now. */
		g_object_unref(a->nice);
		a->nice = NULL;
	}
	free_pending(a);
	if (a->busy > 0) {
		a->freed = true;
		return;
	}
	free_memory(a);
}

const char *ice_agent_ufrag(const struct ice_agent *a)
{
	return a->ufrag;
}

const char *ice_agent_pwd(const struct ice_agent *a)
{
	return a->pwd;
}

struct text {
	char *buf;
	size_t size, len;
};

static void append(struct text *t, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void append(struct text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *at = t->len < t->size ? t->buf + t->len : NULL;
	size_t room = t->len < t->size ? t->size - t->len : 0;
	int n = vsnprintf(at, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len += (size_t)n;
}

size_t ice_agent_sdp_candidates(const struct ice_agent *a, char *buf, size_t size)
{
	struct text t = {buf, size, 0};
	if (size > 0)
		buf[0] = '\0';
	for (unsigned i = 0; i < a->n_cands; i++) {
		const struct local_cand *c = &a->cands[i];
		append(&t, "a=candidate:%s 1 udp %u %s %u typ host\r\n", c->foundation, c->priority,
		       c->address, c->port);
	}
	/* Behind a 1:1 NAT the public address maps to each host candidate of
	 * its family, port for port: a server-reflexive candidate with that
	 * base (RFC 8445 §5.1.1.2), its own foundation, and the host's local
	 * preference under the server-reflexive type preference (§5.1.2.1). */
	for (unsigned i = 0; a->public_family && i < a->n_cands; i++) {
		const struct local_cand *c = &a->cands[i];
		if (c->family != a->public_family)
			continue;
		uint32_t local_pref = (c->priority >> 8) & 0xffffu;
		uint32_t priority = (TYPE_PREF_SRFLX << 24) | (local_pref << 8) | (256u - 1u);
		append(&t, "a=candidate:s%s 1 udp %u %s %u typ srflx raddr %s rport %u\r\n",
		       c->foundation, priority, a->public_address, c->port, c->address, c->port);
	}
	append(&t, "a=end-of-candidates\r\n");
	return t.len;
}

void ice_agent_default_candidate(const struct ice_agent *a, const char **address, uint16_t *port)
{
	const struct local_cand *first = &a->cands[0];
	if (a->public_family) {
		for (unsigned i = 0; i < a->n_cands; i++) {
			if (a->cands[i].family == a->public_family) {
				*address = a->public_address;
				*port = a->cands[i].port;
				return;
			}
		}
	}
	*address = first->address;
	*port = first->port;
}

int ice_agent_set_remote_credentials(struct ice_agent *a, const char *ufrag, const char *pwd,
                                     bool remote_lite)
{
	if (!a || !ufrag || !pwd || !is_ice_chars(ufrag, CRED_MAX) || !is_ice_chars(pwd, CRED_MAX))
		return -EINVAL;
	/* RFC 8445 §6.1.1: a full agent facing a lite one controls; libnice
	 * fixed the role when it gathered, so it must have been made so. */
	if (remote_lite && !a->lite && !a->controlling)
		return -EINVAL;
	if (a->have_remote) {
		if (strcmp(ufrag, a->remote_ufrag) == 0 && strcmp(pwd, a->remote_pwd) == 0) {
			a->remote_lite = remote_lite;
			return 0;
		}
		/* the peer restarts ICE: our credentials change too (RFC 8839
		 * §4.4.3.1.1) and the checks start over */
		int rc = restart(a);
		if (rc < 0)
			return rc;
	}
	g_strlcpy(a->remote_ufrag, ufrag, sizeof a->remote_ufrag);
	g_strlcpy(a->remote_pwd, pwd, sizeof a->remote_pwd);
	a->have_remote = true;
	a->remote_lite = remote_lite;
	if (a->stream && !nice_agent_set_remote_credentials(a->nice, a->stream, ufrag, pwd))
		return -EINVAL;
	return 0;
}

static bool ends_with_local(const char *s)
{
	size_t n = strlen(s);
	return n >= 6 && strcasecmp(s + n - 6, ".local") == 0;
}

static int candidate_type(const char *type, NiceCandidateType *out)
{
	static const struct {
		const char *name;
		NiceCandidateType type;
	} types[] = {
	    {"host", NICE_CANDIDATE_TYPE_HOST},
	    {"srflx", NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE},
	    {"prflx", NICE_CANDIDATE_TYPE_PEER_REFLEXIVE},
	    {"relay", NICE_CANDIDATE_TYPE_RELAYED},
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		if (strcasecmp(type, types[i].name) == 0) {
			*out = types[i].type;
			return 0;
		}
	}
	return -ENOENT;
}

int ice_agent_add_remote_candidate(struct ice_agent *a, const struct sdp_candidate *c)
{
	if (!a || !c || !c->foundation || !c->transport || !c->address || !c->type)
		return -EINVAL;
	NiceCandidateType type;
	/* RFC 8839 §5.1: an unknown candidate type is ignored, like what this
	 * agent cannot use: TCP, names it cannot resolve, other components */
	if (c->component != 1 || strcasecmp(c->transport, "udp") != 0 ||
	    ends_with_local(c->address) || candidate_type(c->type, &type) < 0) {
		a->stats.remote_skipped++;
		return 0;
	}
	if (!is_ice_chars(c->foundation, FOUNDATION_MAX) || c->port == 0 ||
	    !literal_family(c->address))
		return -EINVAL;
	NiceCandidate *nc = nice_candidate_new(type);
	if (!nc)
		return -ENOMEM;
	if (!nice_address_set_from_string(&nc->addr, c->address)) {
		nice_candidate_free(nc);
		return -EINVAL;
	}
	nice_address_set_port(&nc->addr, c->port);
	nc->transport = NICE_CANDIDATE_TRANSPORT_UDP;
	nc->priority = c->priority;
	nc->component_id = 1;
	nc->stream_id = a->stream;
	g_strlcpy(nc->foundation, c->foundation, sizeof nc->foundation);

	if (a->started && a->stream) {
		GSList one = {.data = nc, .next = NULL};
		nice_agent_set_remote_candidates(a->nice, a->stream, 1, &one);
		nice_candidate_free(nc);
	} else {
		a->pending = g_slist_append(a->pending, nc);
	}
	return 0;
}

void ice_agent_end_of_candidates(struct ice_agent *a)
{
	if (!a)
		return;
	a->end_of_candidates = true;
	if (a->started && a->stream)
		nice_agent_peer_candidate_gathering_done(a->nice, a->stream);
}

int ice_agent_start(struct ice_agent *a)
{
	if (!a)
		return -EINVAL;
	if (a->started)
		return -EALREADY;
	if (!a->have_remote || !a->stream)
		return -EINVAL;
	a->started = true;
	a->awaiting_pair = true;
	a->start_us = g_get_monotonic_time();
	a->stats.connected_ms = -1;
	if (a->state != ICE_STATE_CONNECTED)
		set_state(a, ICE_STATE_CHECKING, NULL);
	a->timer = g_timeout_source_new(a->connect_timeout_ms);
	g_source_set_callback(a->timer, on_timeout, a, NULL);
	g_source_attach(a->timer, a->loop);

	if (a->pending) {
		for (GSList *i = a->pending; i; i = i->next)
			((NiceCandidate *)i->data)->stream_id = a->stream;
		nice_agent_set_remote_candidates(a->nice, a->stream, 1, a->pending);
		free_pending(a);
	}
	if (a->end_of_candidates && a->stream)
		nice_agent_peer_candidate_gathering_done(a->nice, a->stream);
	/* The peer's checks may have selected a pair before we started (it had
	 * our description first); libnice reported it while we were not
	 * listening. */
	if (a->awaiting_pair && a->stream) {
		NiceComponentState s = nice_agent_get_component_state(a->nice, a->stream, 1);
		NiceCandidate *local = NULL, *remote = NULL;
		if ((s == NICE_COMPONENT_STATE_CONNECTED || s == NICE_COMPONENT_STATE_READY) &&
		    nice_agent_get_selected_pair(a->nice, a->stream, 1, &local, &remote))
			pair_selected(a);
	}
	return 0;
}

int ice_agent_send(struct ice_agent *a, const uint8_t *buf, size_t len)
{
	if (!a || !buf || len == 0 || len > DATAGRAM_MAX)
		return -EINVAL;
	if (a->state != ICE_STATE_CONNECTED || !a->stream)
		return -ENOTCONN;
	if (a->fd >= 0) {
		if (sendto(a->fd, buf, len, 0, (const struct sockaddr *)&a->direct.remote,
		           a->direct.remote_len) !=
		    (ssize_t)len)
			return -EIO;
	} else {
		gint n = nice_agent_send(a->nice, a->stream, 1, (guint)len, (const gchar *)buf);
		if (n < 0 || (size_t)n != len)
			return -EIO;
	}
	a->stats.tx_packets++;
	a->stats.tx_bytes += len;
	return 0;
}

int ice_agent_restart(struct ice_agent *a)
{
	if (!a)
		return -EINVAL;
	return restart(a);
}

enum ice_state ice_agent_state(const struct ice_agent *a)
{
	return a->state;
}

void ice_agent_get_stats(const struct ice_agent *a, struct ice_stats *out)
{
	*out = a->stats;
	out->stun_answered = a->direct.answered;
	out->stun_refused = a->direct.refused;
	out->consent_checks = a->direct.checks;
	out->consent_answers = a->direct.answers;
}
