/* peer_media.c — one WebRTC media end of the test peer; see peer_media.h. */
#define _GNU_SOURCE /* recvmmsg */
#include "peer_media.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <nice/agent.h>
#include <stun/stunagent.h>
#include <stun/usages/ice.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "sip/sip_build.h"
#include "webrtc/rtp.h"
#include "webrtc/srtp.h"

#define DEFAULT_PTIME_MS     20
#define PCMU_PAYLOAD_LEN     160 /* 20 ms of 8 kHz G.711 */
#define SAMPLES_PER_MS       8
#define GATHER_TIMEOUT_MS    5000
#define RTCP_INTERVAL_MS     1000
#define ECHO_GRACE_MS        1000 /* after the last packet sent, for the rest to come back */
#define PENDING_DTLS_MAX     8    /* DTLS datagrams that came before the DTLS role was known */
#define GARBAGE_INTERVAL_MS  20
#define GARBAGE_BURST        6 /* at once when ICE connects: each kind twice */
#define GARBAGE_MAX          60
#define CORRUPT_FIRST_INDEX  5    /* --corrupt-tag spoils packets from this index on */
#define DTMF_QUEUE_MAX       64
#define DTMF_SENT_MAX        1024
#define DTMF_EVENT_SLOTS     5 /* 100 ms of tone at 20 ms per update */
#define DTMF_END_REPEATS     2 /* the final packet is sent three times (RFC 4733 §2.5.1.4) */
#define DTMF_GAP_SLOTS       4
#define MAX_SSRCS            8
#define PACKET_MAX           1500

/* Codecs a Chrome audio section offers, in its order (the 156 fixtures). */
struct codec_def {
	uint8_t pt;
	const char *encoding;
	uint32_t clock;
	uint16_t channels;
	const char *fmtp;
	const char *rtcp_fb;
};
static const struct codec_def AUDIO_OFFER[] = {
	{111, "opus", 48000, 2, "minptime=10;useinbandfec=1", "transport-cc"},
	{63, "red", 48000, 2, "111/111", NULL},
	{9, "G722", 8000, 0, NULL, NULL},
	{0, "PCMU", 8000, 0, NULL, NULL},
	{8, "PCMA", 8000, 0, NULL, NULL},
	{13, "CN", 8000, 0, NULL, NULL},
	{110, "telephone-event", 48000, 0, NULL, NULL},
	{126, "telephone-event", 8000, 0, NULL, NULL},
};
/* What an answer may accept (red needs its own payload type mapping: left out). */
static const struct codec_def AUDIO_ANSWERABLE[] = {
	{0, "opus", 48000, 2, "minptime=10;useinbandfec=1", "transport-cc"},
	{0, "G722", 8000, 0, NULL, NULL},
	{0, "PCMU", 8000, 0, NULL, NULL},
	{0, "PCMA", 8000, 0, NULL, NULL},
	{0, "CN", 8000, 0, NULL, NULL},
	{0, "telephone-event", 48000, 0, NULL, NULL},
	{0, "telephone-event", 8000, 0, NULL, NULL},
};
static const char *const AUDIO_EXTMAPS[] = {
	"1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
	"2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
	"3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
	"4 urn:ietf:params:rtp-hdrext:sdes:mid",
};
static const char *const VIDEO_EXTMAPS[] = {
	"14 urn:ietf:params:rtp-hdrext:toffset",
	"2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
	"13 urn:3gpp:video-orientation",
	"3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
	"4 urn:ietf:params:rtp-hdrext:sdes:mid",
};

enum ice_state { ICE_NEW, ICE_CHECKING, ICE_CONNECTED, ICE_FAILED, ICE_DISABLED };
static const char *const ICE_STATE_NAMES[] = {"new", "checking", "connected", "failed",
                                              "disabled"};

/* What became of a received RTP packet, for the record and the counts. */
enum verdict { V_MATCH, V_DUPLICATE, V_DTMF_MATCH, V_MISMATCH, V_NOT_CHECKED };
static const char *const VERDICT_NAMES[] = {"match", "duplicate", "dtmf", "mismatch", "-"};

struct rx_stats {
	bool started;
	uint32_t ssrc;
	struct rtp_seq seq;
	/* RFC 3550 A.8 interarrival jitter, in RTP units scaled by 16 */
	uint32_t jitter_q4;
	int64_t last_transit;
	bool have_transit;
	/* the last SR from the far end, for LSR/DLSR */
	uint32_t lsr;
	uint64_t lsr_at_ms;
	bool have_sr;
};

struct peer_media {
	struct peer_media_config cfg;
	unsigned ptime_ms;

	/* identity, as the descriptions show it */
	char ufrag[8], pwd[32];
	char fingerprint[DTLS_FINGERPRINT_SHA256_LEN]; /* announced: the cert's, or not */
	uint64_t sess_id;
	uint64_t sess_version;
	char cname[20];
	char stream_id[40], audio_track[40], video_track[40];
	uint32_t ssrc, video_ssrc, video_rtx_ssrc;

	/* ICE */
	NiceAgent *agent;
	guint stream;
	bool gathered;
	char cand_addr[INET6_ADDRSTRLEN];
	uint16_t cand_port;
	char cand_foundation[NICE_CANDIDATE_MAX_FOUNDATION];
	uint32_t cand_priority;
	bool role_fixed;
	bool controlling;
	enum ice_state ice;
	char remote_ufrag[300], remote_pwd[300];
	unsigned remote_candidates;
	bool remote_ice_lite;
	char selected[128];

	/* offer/answer */
	bool have_local, have_remote; /* the transport of each side is known */
	bool offer_out;               /* our offer waits for its answer */
	enum sdp_direction offered_dir;
	struct sdp_session *pending_offer; /* the remote offer to answer */
	unsigned pending_audio;            /* its audio section */
	bool negotiated;
	bool send_ok, recv_ok;
	int pcmu_pt, te_pt;
	char remote_fp_alg[32], remote_fp[256];
	enum sdp_setup remote_setup;

	/* DTLS */
	struct dtls *dtls;
	enum dtls_role dtls_role;
	bool dtls_started;
	char dtls_error[160];
	uint8_t *pending[PENDING_DTLS_MAX];
	size_t pending_len[PENDING_DTLS_MAX];
	unsigned n_pending;
	unsigned garbage_sent;
	uint64_t next_garbage_ms;

	/* SRTP */
	struct srtp_session *srtp;
	enum srtp_profile profile;

	/* times (CLOCK_MONOTONIC ms) */
	uint64_t t_negotiated, t_ice, t_dtls;

	/* sending */
	bool stopped;
	uint8_t tag[PEER_MEDIA_TAG_LEN];
	uint16_t seq;
	uint32_t ts0;
	uint64_t slot;         /* 20 ms slots since the first packet */
	uint64_t next_slot_ms; /* 0: not started */
	unsigned audio_sent;
	uint8_t *expect;       /* per audio index: 1 when its echo is expected back */
	unsigned *returned;    /* per audio index: times it came back */
	unsigned expected, corrupted;
	uint64_t last_sent_ms;
	bool sending_done;
	unsigned rtp_sent; /* every RTP packet: audio, events, echoes */
	uint64_t octets_sent;
	uint32_t last_rtp_ts;

	/* DTMF */
	char dtmf_queue[DTMF_QUEUE_MAX];
	size_t dtmf_len, dtmf_pos;
	unsigned dtmf_k, dtmf_gap;
	uint8_t dtmf_event;
	uint32_t dtmf_ts;
	char dtmf_digits_sent[DTMF_QUEUE_MAX];
	size_t n_dtmf_digits;
	uint32_t dtmf_payloads[DTMF_SENT_MAX];
	unsigned n_dtmf_payloads;
	unsigned dtmf_packets_sent;
	bool dtmf_unsendable;

	/* RTCP */
	uint64_t next_rtcp_ms;
	unsigned rtcp_sent, rtcp_received, rtcp_srs_received;

	/* receiving */
	struct rx_stats rx;
	unsigned rtp_received, rtp_before_keys, rtp_malformed;
	unsigned echo_matches, echo_mismatches, echo_duplicates, echo_returned;
	unsigned dtmf_received, dtmf_matches;
	unsigned pt_counts[128];
	uint32_t ssrcs[MAX_SSRCS];
	unsigned n_ssrcs;
	unsigned rtcp_before_keys, demux_other, dtls_received, dtls_early;
	char first_mismatch[160];

	/* the one timer, and the owner's notification, on ctx: the main context
	 * that was the thread's default when the end was made */
	GMainContext *ctx;
	GSource *timer;
	uint64_t timer_due;
	GSource *notify_idle;
	bool finished_notified;

	/* cfg.owner_reads, once ICE is ready: the selected pair's socket, read
	 * by the owner; libnice's own watch of it parked on a context nobody
	 * runs; the far end's consent checks answered here */
	bool ice_ready;
	GSocket *owner_socket;
	int owner_fd;
	GMainContext *parked;
	struct sockaddr_storage remote_sa;
	socklen_t remote_sa_len;
	StunAgent stun;
	uint64_t tie;
	unsigned stun_answered, stun_refused;

	/* cfg.shared */
	enum { MOVE_NONE, MOVE_PENDING, MOVE_DONE } move;
	uint64_t move_next_ms;
	unsigned move_checks;

	/* cfg.jitter_ms: this slot's packet leaves this long after the slot */
	unsigned slot_jitter_ms;
	uint32_t jitter_rng;

	uint8_t buf[PACKET_MAX + SRTP_DTLS_TRAILER_MAX];
};

/* ---- small things ---- */

static uint64_t now_ms(void)
{
	return (uint64_t)(g_get_monotonic_time() / 1000);
}

static void random_bytes(void *p, size_t n)
{
	if (RAND_bytes(p, (int)n) == 1)
		return;
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)g_random_int();
}

static uint32_t random_u32(void)
{
	uint32_t v;
	random_bytes(&v, sizeof v);
	return v;
}

/* n characters of the ICE alphabet (RFC 8839 §5.4: ALPHA / DIGIT / "+" / "/"). */
static void random_ice_chars(char *out, size_t n)
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t r[64];
	random_bytes(r, n);
	for (size_t i = 0; i < n; i++)
		out[i] = set[r[i] % 64];
	out[n] = '\0';
}

static void random_alnum(char *out, size_t n)
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	uint8_t r[64];
	random_bytes(r, n);
	for (size_t i = 0; i < n; i++)
		out[i] = set[r[i] % 62];
	out[n] = '\0';
}

static void random_uuid(char *out, size_t size)
{
	uint8_t u[16];
	random_bytes(u, sizeof u);
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
	snprintf(out, size,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
	         u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
	         u[15]);
}

static void logm(const struct peer_media *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void logm(const struct peer_media *m, const char *fmt, ...)
{
	if (m->cfg.quiet)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(stderr, "[%s %ld.%03ld] %s\n", m->cfg.name, (long)ts.tv_sec % 100000,
	        ts.tv_nsec / 1000000, line);
}

static bool copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);
	if (n >= size)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

static void schedule(struct peer_media *m);

/* A source on the end's context; the caller keeps the reference. */
static GSource *attach(struct peer_media *m, GSource *s, GSourceFunc fn, void *data)
{
	g_source_set_callback(s, fn, data, NULL);
	g_source_attach(s, m->ctx);
	return s;
}

static void drop_source(GSource **s)
{
	if (!*s)
		return;
	g_source_destroy(*s);
	g_source_unref(*s);
	*s = NULL;
}

static void hand_over_reading(struct peer_media *m);

static gboolean notify_cb(gpointer data)
{
	struct peer_media *m = data;
	drop_source(&m->notify_idle);
	if (m->cfg.owner_reads && m->ice_ready && !m->owner_socket && m->agent)
		hand_over_reading(m);
	if (m->cfg.on_change)
		m->cfg.on_change(m->cfg.arg);
	return G_SOURCE_REMOVE;
}

/* Tells the owner later, from the main loop, never inside its own call. */
static void notify(struct peer_media *m)
{
	if (!m->notify_idle)
		m->notify_idle = attach(m, g_idle_source_new(), notify_cb, m);
}

/* ---- sending on the selected pair ---- */

static void send_datagram(struct peer_media *m, const uint8_t *buf, size_t len)
{
	if (m->move == MOVE_DONE) {
		m->cfg.send_to(m->cfg.arg, buf, len, &m->remote_sa, m->remote_sa_len);
		return;
	}
	if (m->owner_fd >= 0) {
		sendto(m->owner_fd, buf, len, 0, (const struct sockaddr *)&m->remote_sa,
		       m->remote_sa_len);
		return;
	}
	if (!m->agent)
		return; /* before a pair is valid libnice refuses it: DTLS resends */
	nice_agent_send(m->agent, m->stream, 1, (guint)len, (const gchar *)buf);
}

/* ---- DTLS ---- */

static void dtls_send_cb(void *arg, const uint8_t *buf, size_t len)
{
	send_datagram(arg, buf, len);
}

static const char *profile_name(enum srtp_profile p)
{
	switch (p) {
	case SRTP_PROFILE_AES128_CM_SHA1_80: return "SRTP_AES128_CM_SHA1_80";
	case SRTP_PROFILE_AES128_CM_SHA1_32: return "SRTP_AES128_CM_SHA1_32";
	case SRTP_PROFILE_AEAD_AES_128_GCM: return "SRTP_AEAD_AES_128_GCM";
	}
	return NULL;
}

/* The first packet goes phase_ms from now; RTCP a second after. */
static void start_media(struct peer_media *m, uint64_t now)
{
	m->next_rtcp_ms = now + RTCP_INTERVAL_MS;
	if ((m->cfg.packets || m->dtmf_len) && !m->next_slot_ms)
		m->next_slot_ms = now + m->cfg.phase_ms;
}

/* xorshift32: a jitter figure per packet, cheaper than RAND_bytes */
static unsigned next_jitter(struct peer_media *m)
{
	if (!m->cfg.jitter_ms)
		return 0;
	uint32_t x = m->jitter_rng ? m->jitter_rng : 0x9e3779b9u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	m->jitter_rng = x;
	return x % (m->cfg.jitter_ms + 1);
}

static void dtls_connected_cb(void *arg, const struct dtls_srtp_keys *keys)
{
	struct peer_media *m = arg;
	struct srtp_keys sk;
	enum srtp_profile profile = (enum srtp_profile)keys->profile;
	int rc = srtp_keys_from_material(profile, keys->material, keys->material_len,
	                                 keys->local_is_client, &sk);
	if (rc == 0)
		rc = srtp_session_new(&sk, &m->srtp);
	OPENSSL_cleanse(&sk, sizeof sk);
	m->t_dtls = now_ms();
	if (rc < 0) {
		snprintf(m->dtls_error, sizeof m->dtls_error, "SRTP session: %s", strerror(-rc));
		logm(m, "DTLS connected but no SRTP session: %s", strerror(-rc));
		notify(m);
		return;
	}
	m->profile = profile;
	logm(m, "DTLS connected as %s after %" PRIu64 " ms, %s",
	     m->dtls_role == DTLS_ROLE_CLIENT ? "client" : "server", m->t_dtls - m->t_negotiated,
	     profile_name(profile));
	if (!m->cfg.shared)
		start_media(m, m->t_dtls);
	notify(m);
}

static void dtls_failed_cb(void *arg, const char *reason)
{
	struct peer_media *m = arg;
	snprintf(m->dtls_error, sizeof m->dtls_error, "%s", reason);
	logm(m, "DTLS failed: %s", reason);
	notify(m);
}

static void feed_pending(struct peer_media *m)
{
	for (unsigned i = 0; i < m->n_pending; i++) {
		if (m->dtls)
			dtls_recv(m->dtls, m->pending[i], m->pending_len[i], now_ms());
		free(m->pending[i]);
		m->pending[i] = NULL;
	}
	m->n_pending = 0;
}

/* Once the remote description has fixed who is client: the endpoint, and
 * a server starts listening at once, a client when ICE connects. */
static int dtls_prepare(struct peer_media *m, enum dtls_role role)
{
	struct dtls_config dc = {
		.cert = m->cfg.cert,
		.role = role,
		.peer_fingerprint_alg = m->remote_fp_alg,
		.peer_fingerprint = m->remote_fp,
		.send = dtls_send_cb,
		.on_connected = dtls_connected_cb,
		.on_failed = dtls_failed_cb,
		.arg = m,
	};
	int rc = dtls_new(&dc, &m->dtls);
	if (rc < 0)
		return rc;
	m->dtls_role = role;
	logm(m, "DTLS role %s", role == DTLS_ROLE_CLIENT ? "client (setup:active)"
	                                                 : "server (setup:passive)");
	if (role == DTLS_ROLE_SERVER) {
		dtls_start(m->dtls, now_ms());
		m->dtls_started = true;
		feed_pending(m);
	} else if (m->ice == ICE_CONNECTED) {
		dtls_start(m->dtls, now_ms());
		m->dtls_started = true;
	}
	return 0;
}

/* ---- RTP out ---- */

static void audio_payload(const struct peer_media *m, uint32_t index, uint8_t *p)
{
	memcpy(p, m->tag, PEER_MEDIA_TAG_LEN);
	p[8] = (uint8_t)(index >> 24);
	p[9] = (uint8_t)(index >> 16);
	p[10] = (uint8_t)(index >> 8);
	p[11] = (uint8_t)index;
	for (unsigned k = 12; k < PCMU_PAYLOAD_LEN; k++)
		p[k] = (uint8_t)(m->tag[k % PEER_MEDIA_TAG_LEN] ^ (index * 31u + k * 7u));
}

static size_t rtp_header(struct peer_media *m, uint8_t *p, uint8_t pt, bool marker,
                         uint32_t ts)
{
	p[0] = 0x80;
	p[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
	p[2] = (uint8_t)(m->seq >> 8);
	p[3] = (uint8_t)m->seq;
	m->seq++;
	p[4] = (uint8_t)(ts >> 24);
	p[5] = (uint8_t)(ts >> 16);
	p[6] = (uint8_t)(ts >> 8);
	p[7] = (uint8_t)ts;
	p[8] = (uint8_t)(m->ssrc >> 24);
	p[9] = (uint8_t)(m->ssrc >> 16);
	p[10] = (uint8_t)(m->ssrc >> 8);
	p[11] = (uint8_t)m->ssrc;
	return RTP_HEADER_LEN;
}

/* Protects the plain RTP packet in m->buf and sends it; spoil flips a bit of
 * its authentication tag first. */
static bool protect_and_send(struct peer_media *m, size_t len, bool spoil)
{
	int n = srtp_session_protect_rtp(m->srtp, m->buf, len, sizeof m->buf);
	if (n < 0) {
		logm(m, "SRTP protect failed: %s", strerror(-n));
		return false;
	}
	if (spoil)
		m->buf[n - 1] ^= 0x01;
	send_datagram(m, m->buf, (size_t)n);
	m->rtp_sent++;
	m->octets_sent += len - RTP_HEADER_LEN;
	return true;
}

static int dtmf_event_code(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	switch (c) {
	case '*': return 10;
	case '#': return 11;
	case 'A': case 'a': return 12;
	case 'B': case 'b': return 13;
	case 'C': case 'c': return 14;
	case 'D': case 'd': return 15;
	}
	return -1;
}

/* One RFC 4733 packet of the current event: updates every slot, the final
 * one (E bit) three times. */
static void send_dtmf_slot(struct peer_media *m, uint32_t ts)
{
	if (m->dtmf_k == 0) {
		m->dtmf_ts = ts;
		m->dtmf_event = (uint8_t)dtmf_event_code(m->dtmf_queue[m->dtmf_pos]);
		if (m->n_dtmf_digits + 1 < sizeof m->dtmf_digits_sent)
			m->dtmf_digits_sent[m->n_dtmf_digits++] = m->dtmf_queue[m->dtmf_pos];
	}
	unsigned k = m->dtmf_k;
	bool end = k + 1 >= DTMF_EVENT_SLOTS;
	unsigned duration = (k < DTMF_EVENT_SLOTS ? k + 1 : DTMF_EVENT_SLOTS) * m->ptime_ms *
	                    SAMPLES_PER_MS;
	uint8_t *p = m->buf;
	size_t h = rtp_header(m, p, (uint8_t)m->te_pt, k == 0, m->dtmf_ts);
	p[h] = m->dtmf_event;
	p[h + 1] = (uint8_t)((end ? 0x80 : 0) | 10); /* volume -10 dBm0 */
	p[h + 2] = (uint8_t)(duration >> 8);
	p[h + 3] = (uint8_t)duration;
	uint32_t word = (uint32_t)p[h] << 24 | (uint32_t)p[h + 1] << 16 | duration;
	if (m->n_dtmf_payloads < DTMF_SENT_MAX)
		m->dtmf_payloads[m->n_dtmf_payloads++] = word;
	if (protect_and_send(m, h + 4, false))
		m->dtmf_packets_sent++;
	if (++m->dtmf_k >= DTMF_EVENT_SLOTS + DTMF_END_REPEATS) {
		m->dtmf_k = 0;
		m->dtmf_pos++;
		m->dtmf_gap = DTMF_GAP_SLOTS;
	}
}

static bool dtmf_waiting(const struct peer_media *m)
{
	return m->dtmf_pos < m->dtmf_len && !m->dtmf_unsendable;
}

/* One pacing slot: a telephone-event while digits wait, else the next audio
 * packet. The timestamp advances every slot whatever is sent. */
static void send_slot(struct peer_media *m)
{
	uint32_t ts = m->ts0 + (uint32_t)(m->slot * m->ptime_ms * SAMPLES_PER_MS);
	m->slot++;
	if (m->stopped || !m->send_ok)
		return;
	if (dtmf_waiting(m) && m->te_pt < 0) {
		logm(m, "no telephone-event/8000 negotiated: DTMF not sent");
		m->dtmf_unsendable = true;
	}
	if (dtmf_waiting(m)) {
		if (m->dtmf_gap) {
			m->dtmf_gap--;
		} else {
			send_dtmf_slot(m, ts);
			m->last_sent_ms = now_ms();
			m->last_rtp_ts = ts;
			return;
		}
	}
	if (m->audio_sent >= m->cfg.packets || m->pcmu_pt < 0)
		return;
	uint32_t index = m->audio_sent++;
	uint8_t *p = m->buf;
	size_t h = rtp_header(m, p, (uint8_t)m->pcmu_pt, index == 0, ts);
	audio_payload(m, index, p + h);
	bool spoil = index >= CORRUPT_FIRST_INDEX && index < CORRUPT_FIRST_INDEX + m->cfg.corrupt_tag;
	if (spoil)
		m->corrupted++;
	bool expect = !spoil && m->recv_ok;
	m->expect[index] = expect;
	if (expect)
		m->expected++;
	if (m->cfg.on_audio)
		m->cfg.on_audio(m->cfg.arg, index, false);
	protect_and_send(m, h + PCMU_PAYLOAD_LEN, spoil);
	m->last_sent_ms = now_ms();
	m->last_rtp_ts = ts;
}

static bool sending_finished(const struct peer_media *m)
{
	if (m->stopped)
		return true;
	if (m->cfg.packets && m->pcmu_pt >= 0 && m->audio_sent < m->cfg.packets)
		return false;
	return !dtmf_waiting(m);
}

/* ---- RTCP out ---- */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An SR when RTP went out since the last report (else an RR), with a report
 * block on the source received, then an SDES CNAME: a compound packet as
 * RFC 3550 §6.1 asks. */
static void send_rtcp(struct peer_media *m, uint64_t now)
{
	uint8_t *p = m->buf;
	size_t len = 0;
	bool sr = m->rtp_sent > 0 && !m->cfg.echo; /* an echo's RTP carries the sender's SSRC */
	unsigned rc = m->rx.started ? 1 : 0;
	size_t words = 1 + (sr ? 5 : 0) + rc * 6; /* after the header word */
	p[0] = (uint8_t)(0x80 | rc);
	p[1] = sr ? RTCP_SR : RTCP_RR;
	p[2] = 0;
	p[3] = (uint8_t)words;
	put32(p + 4, m->ssrc);
	len = 8;
	if (sr) {
		struct timespec wall;
		clock_gettime(CLOCK_REALTIME, &wall);
		uint32_t ntp_sec = (uint32_t)((uint64_t)wall.tv_sec + 2208988800u);
		uint32_t ntp_frac = (uint32_t)(((uint64_t)wall.tv_nsec << 32) / 1000000000u);
		put32(p + len, ntp_sec);
		put32(p + len + 4, ntp_frac);
		put32(p + len + 8, m->last_rtp_ts);
		put32(p + len + 12, m->rtp_sent);
		put32(p + len + 16, (uint32_t)m->octets_sent);
		len += 20;
	}
	if (rc) {
		struct rx_stats *rx = &m->rx;
		int32_t lost = rtp_seq_lost(&rx->seq);
		put32(p + len, rx->ssrc);
		put32(p + len + 4, (uint32_t)rtp_seq_fraction_lost(&rx->seq) << 24 |
		                       ((uint32_t)lost & 0xffffff));
		put32(p + len + 8, rtp_seq_ext_max(&rx->seq));
		put32(p + len + 12, rx->jitter_q4 >> 4);
		uint32_t dlsr = 0;
		if (rx->have_sr)
			dlsr = (uint32_t)((now - rx->lsr_at_ms) * 65536u / 1000u);
		put32(p + len + 16, rx->have_sr ? rx->lsr : 0);
		put32(p + len + 20, dlsr);
		len += 24;
	}
	/* SDES: one chunk, CNAME, END, padded to a word */
	size_t cl = strlen(m->cname);
	size_t chunk = 4 + 2 + cl + 1;
	size_t padded = (chunk + 3) & ~(size_t)3;
	uint8_t *s = p + len;
	s[0] = 0x81;
	s[1] = RTCP_SDES;
	s[2] = 0;
	s[3] = (uint8_t)(padded / 4);
	put32(s + 4, m->ssrc);
	s[8] = 1; /* CNAME */
	s[9] = (uint8_t)cl;
	memcpy(s + 10, m->cname, cl);
	memset(s + 10 + cl, 0, padded - (chunk - 1));
	len += 4 + padded;
	int n = srtp_session_protect_rtcp(m->srtp, p, len, sizeof m->buf);
	if (n < 0) {
		logm(m, "SRTCP protect failed: %s", strerror(-n));
		return;
	}
	send_datagram(m, p, (size_t)n);
	m->rtcp_sent++;
}

/* ---- junk in the DTLS range (--dtls-garbage) ---- */

/* Datagrams RFC 7983 sends to DTLS that are no DTLS record a stack may
 * take: first bytes 20..63 that are not a content type, handshake records
 * of no DTLS version, and records cut short. A sound stack drops them and
 * goes on with its handshake. */
static void send_garbage(struct peer_media *m)
{
	uint8_t g[240];
	random_bytes(g, sizeof g);
	size_t len;
	switch (m->garbage_sent % 3) {
	case 0: /* a first byte no content type has */
		g[0] = (uint8_t)(26 + g[0] % 38);
		len = 20 + g[1] % 200;
		break;
	case 1: /* a handshake record of version 0.0 */
		g[0] = 22;
		g[1] = 0;
		g[2] = 0;
		len = 13 + g[3] % 200;
		break;
	default: /* shorter than a record header */
		g[0] = (uint8_t)(20 + g[0] % 4);
		len = 1 + g[1] % 12;
		break;
	}
	send_datagram(m, g, len);
	m->garbage_sent++;
}

/* ---- the timer ---- */

/* One source per end, due at a whole millisecond of the monotonic clock
 * (g_source_set_ready_time): the ends of one thread whose packets are due
 * in the same millisecond are served by one wake-up, which is what lets a
 * load tool run hundreds of them. */
static gboolean timer_dispatch(GSource *s, GSourceFunc fn, gpointer data)
{
	g_source_set_ready_time(s, -1);
	return fn(data);
}

static GSourceFuncs timer_funcs = {.dispatch = timer_dispatch};

static gboolean timer_cb(gpointer data)
{
	struct peer_media *m = data;
	m->timer_due = 0;
	schedule(m);
	return G_SOURCE_CONTINUE;
}

static void arm(struct peer_media *m, uint64_t due, uint64_t now)
{
	if (m->timer_due == due)
		return;
	if (m->cfg.on_timer) {
		m->timer_due = due;
		m->cfg.on_timer(m->cfg.arg, due > now ? due : now);
		return;
	}
	if (!m->timer)
		m->timer = attach(m, g_source_new(&timer_funcs, sizeof(GSource)), timer_cb, m);
	m->timer_due = due;
	g_source_set_ready_time(m->timer, (gint64)(due > now ? due : now) * 1000);
}

void peer_media_tick(struct peer_media *m)
{
	m->timer_due = 0;
	schedule(m);
}

static bool srtp_ready(const struct peer_media *m)
{
	return m->srtp != NULL;
}

static void send_move_check(struct peer_media *m, uint64_t now);

/* Does what is due now and sets the timer for what comes next. */
static void schedule(struct peer_media *m)
{
	uint64_t now = now_ms();
	uint64_t next = UINT64_MAX;

	if (m->dtls && m->dtls_started) {
		int64_t d = dtls_next_deadline(m->dtls);
		if (d >= 0 && (uint64_t)d <= now) {
			dtls_tick(m->dtls, now);
			d = dtls_next_deadline(m->dtls);
		}
		if (d >= 0 && (uint64_t)d < next)
			next = (uint64_t)d;
	}
	if (m->cfg.dtls_garbage && m->ice == ICE_CONNECTED && !srtp_ready(m) && !m->dtls_error[0] &&
	    m->garbage_sent < GARBAGE_MAX) {
		if (now >= m->next_garbage_ms) {
			do
				send_garbage(m);
			while (m->garbage_sent < GARBAGE_BURST);
			m->next_garbage_ms = now + GARBAGE_INTERVAL_MS;
		}
		if (m->next_garbage_ms < next)
			next = m->next_garbage_ms;
	}
	if (m->move == MOVE_PENDING) {
		if (now >= m->move_next_ms)
			send_move_check(m, now);
		if (m->move_next_ms < next)
			next = m->move_next_ms;
	}
	if (srtp_ready(m) && !m->stopped && (!m->cfg.shared || m->move == MOVE_DONE)) {
		if (m->next_slot_ms && !m->sending_done) {
			/* catch up a few slots after a stall, then start again from now */
			unsigned burst = 0;
			while (m->next_slot_ms + m->slot_jitter_ms <= now && burst++ < 5) {
				send_slot(m);
				m->next_slot_ms += m->ptime_ms;
				m->slot_jitter_ms = next_jitter(m);
			}
			if (m->next_slot_ms + m->slot_jitter_ms <= now)
				m->next_slot_ms = now + m->ptime_ms;
			if (sending_finished(m)) {
				m->sending_done = true;
				logm(m, "sent %u audio packets (%u RTP in all)", m->audio_sent,
				     m->rtp_sent);
			} else if (m->next_slot_ms + m->slot_jitter_ms < next) {
				next = m->next_slot_ms + m->slot_jitter_ms;
			}
		}
		if (now >= m->next_rtcp_ms) {
			send_rtcp(m, now);
			m->next_rtcp_ms = now + RTCP_INTERVAL_MS;
		}
		if (m->next_rtcp_ms < next)
			next = m->next_rtcp_ms;
	}
	if (!m->finished_notified) {
		if (peer_media_finished(m)) {
			m->finished_notified = true;
			notify(m);
		} else if ((m->sending_done || m->stopped) && m->last_sent_ms &&
		           m->last_sent_ms + ECHO_GRACE_MS < next) {
			next = m->last_sent_ms + ECHO_GRACE_MS + 1;
		}
	}
	if (next != UINT64_MAX)
		arm(m, next, now);
}

/* ---- what arrives ---- */

static void note_ssrc(struct peer_media *m, uint32_t ssrc)
{
	for (unsigned i = 0; i < m->n_ssrcs; i++)
		if (m->ssrcs[i] == ssrc)
			return;
	if (m->n_ssrcs < MAX_SSRCS)
		m->ssrcs[m->n_ssrcs++] = ssrc;
}

static void rx_account(struct peer_media *m, const struct rtp_view *v)
{
	struct rx_stats *rx = &m->rx;
	if (!rx->started) {
		rx->started = true;
		rx->ssrc = v->ssrc;
		rtp_seq_init(&rx->seq, v->seq);
	}
	if (v->ssrc != rx->ssrc)
		return;
	rtp_seq_update(&rx->seq, v->seq);
	if (v->payload_type == m->te_pt)
		return; /* an event's timestamp stays put: no jitter from it */
	int64_t arrival = (int64_t)(now_ms() * SAMPLES_PER_MS);
	int64_t transit = arrival - (int64_t)v->timestamp;
	if (rx->have_transit) {
		int64_t d = transit - rx->last_transit;
		if (d < 0)
			d = -d;
		if (d < (1 << 20)) /* a timestamp jump (a new stream) is no jitter */
			rx->jitter_q4 += (uint32_t)((int64_t)d - (int64_t)((rx->jitter_q4 + 8) >> 4));
	}
	rx->last_transit = transit;
	rx->have_transit = true;
}

static enum verdict check_echo(struct peer_media *m, const struct rtp_view *v)
{
	const uint8_t *pl = rtp_payload(v);
	if (v->payload_len == PCMU_PAYLOAD_LEN && !memcmp(pl, m->tag, PEER_MEDIA_TAG_LEN)) {
		uint32_t index = get32(pl + PEER_MEDIA_TAG_LEN);
		uint8_t want[PCMU_PAYLOAD_LEN];
		if (index < m->audio_sent) {
			audio_payload(m, index, want);
			if (!memcmp(pl, want, sizeof want) && v->payload_type == m->pcmu_pt) {
				if (m->returned[index]++) {
					m->echo_duplicates++;
					return V_DUPLICATE;
				}
				m->echo_matches++;
				if (m->expect[index])
					m->echo_returned++;
				if (m->cfg.on_audio)
					m->cfg.on_audio(m->cfg.arg, index, true);
				return V_MATCH;
			}
		}
	} else if (v->payload_len == 4 && v->payload_type == m->te_pt) {
		uint32_t word = get32(pl);
		for (unsigned i = 0; i < m->n_dtmf_payloads; i++)
			if (m->dtmf_payloads[i] == word) {
				m->dtmf_matches++;
				return V_DTMF_MATCH;
			}
	}
	if (!m->first_mismatch[0])
		snprintf(m->first_mismatch, sizeof m->first_mismatch,
		         "pt %u seq %u ssrc %08" PRIx32 " with %zu payload bytes is no packet sent",
		         v->payload_type, v->seq, v->ssrc, v->payload_len);
	m->echo_mismatches++;
	return V_MISMATCH;
}

static void record(struct peer_media *m, const struct rtp_view *v, enum verdict verdict)
{
	FILE *f = m->cfg.record;
	if (!f)
		return;
	fprintf(f, "%" PRIu64 " pt=%u seq=%u ts=%" PRIu32 " ssrc=%08" PRIx32 " m=%d len=%zu %s ",
	        now_ms(), v->payload_type, v->seq, v->timestamp, v->ssrc, v->marker ? 1 : 0,
	        v->payload_len, VERDICT_NAMES[verdict]);
	const uint8_t *pl = rtp_payload(v);
	for (size_t i = 0; i < v->payload_len; i++)
		fprintf(f, "%02x", pl[i]);
	fputc('\n', f);
}

static void on_rtp(struct peer_media *m, size_t len)
{
	if (!m->srtp) {
		m->rtp_before_keys++;
		return;
	}
	int n = srtp_session_unprotect_rtp(m->srtp, m->buf, len);
	if (n < 0)
		return; /* counted by the session: auth failures, replays */
	struct rtp_view v;
	if (rtp_parse(m->buf, (size_t)n, &v) < 0) {
		m->rtp_malformed++;
		return;
	}
	m->rtp_received++;
	m->pt_counts[v.payload_type]++;
	note_ssrc(m, v.ssrc);
	rx_account(m, &v);
	if (v.payload_type == m->te_pt && m->te_pt >= 0)
		m->dtmf_received++;
	record(m, &v, m->cfg.echo ? V_NOT_CHECKED : check_echo(m, &v));
	if (m->cfg.echo && m->send_ok && !m->stopped)
		protect_and_send(m, (size_t)n, false); /* in place: v is stale from here */
	if (!m->finished_notified && peer_media_finished(m)) {
		m->finished_notified = true;
		notify(m);
	}
}

static void on_rtcp(struct peer_media *m, size_t len)
{
	if (!m->srtp) {
		m->rtcp_before_keys++;
		return;
	}
	int n = srtp_session_unprotect_rtcp(m->srtp, m->buf, len);
	if (n < 0)
		return;
	if (rtcp_validate(m->buf, (size_t)n) < 0)
		return;
	m->rtcp_received++;
	struct rtcp_iter it;
	struct rtcp_view v;
	rtcp_iter_init(&it, m->buf, (size_t)n);
	while (rtcp_next(&it, &v) == 1) {
		struct rtcp_sender_info si;
		if (v.type == RTCP_SR && rtcp_sender_info(&v, &si) == 0) {
			m->rtcp_srs_received++;
			m->rx.lsr = si.ntp_sec << 16 | si.ntp_frac >> 16;
			m->rx.lsr_at_ms = now_ms();
			m->rx.have_sr = true;
		}
	}
}

static void on_datagram(struct peer_media *m, const uint8_t *data, size_t len)
{
	if (len > PACKET_MAX)
		return;
	switch (rtp_demux(data, len)) {
	case RTP_DEMUX_DTLS:
		m->dtls_received++;
		if (!m->dtls) {
			/* the far end's ClientHello may come before its answer */
			if (m->n_pending < PENDING_DTLS_MAX) {
				uint8_t *copy = malloc(len);
				if (copy) {
					memcpy(copy, data, len);
					m->pending[m->n_pending] = copy;
					m->pending_len[m->n_pending++] = len;
				}
			}
			return;
		}
		if (!m->dtls_started) {
			m->dtls_early++; /* a client speaks first: nothing is due before it does */
			return;
		}
		dtls_recv(m->dtls, data, len, now_ms());
		break;
	case RTP_DEMUX_RTP:
		memcpy(m->buf, data, len);
		on_rtp(m, len);
		break;
	case RTP_DEMUX_RTCP:
		memcpy(m->buf, data, len);
		on_rtcp(m, len);
		break;
	default:
		m->demux_other++;
		break;
	}
}

/* ---- libnice ---- */

static void nice_recv_cb(NiceAgent *agent, guint stream, guint component, guint len, gchar *buf,
                         gpointer data)
{
	struct peer_media *m = data;
	on_datagram(m, (const uint8_t *)buf, len);
	schedule(m);
}

/* cfg.owner_reads: once ICE is ready, the selected pair's socket is read
 * by the owner (peer_media_pump) and written here directly; libnice's watch
 * of it moves to a context nobody runs. What libnice would still have to
 * do on it is answer the far end's consent checks (RFC 7675): done here
 * with libnice's STUN library. Our own consent checks are off in this mode
 * (make_agent), so no response is ever waited for. */
static void hand_over_reading(struct peer_media *m)
{
	NiceCandidate *local = NULL, *remote = NULL;
	if (!nice_agent_get_selected_pair(m->agent, m->stream, 1, &local, &remote) || !remote)
		return; /* no pair yet: next time */
	GSocket *sock = nice_agent_get_selected_socket(m->agent, m->stream, 1);
	if (!sock)
		return;
	memset(&m->remote_sa, 0, sizeof m->remote_sa);
	nice_address_copy_to_sockaddr(&remote->addr, (struct sockaddr *)&m->remote_sa);
	m->remote_sa_len = nice_address_ip_version(&remote->addr) == 6
	                       ? sizeof(struct sockaddr_in6)
	                       : sizeof(struct sockaddr_in);
	m->parked = g_main_context_new();
	nice_agent_attach_recv(m->agent, m->stream, 1, m->parked, NULL, NULL);
	static const uint16_t known[] = {
		STUN_ATTRIBUTE_USERNAME,       STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
		STUN_ATTRIBUTE_PRIORITY,       STUN_ATTRIBUTE_USE_CANDIDATE,
		STUN_ATTRIBUTE_ICE_CONTROLLED, STUN_ATTRIBUTE_ICE_CONTROLLING,
		STUN_ATTRIBUTE_FINGERPRINT,    STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
		STUN_ATTRIBUTE_MAPPED_ADDRESS, STUN_ATTRIBUTE_ERROR_CODE,
		STUN_ATTRIBUTE_UNKNOWN_ATTRIBUTES, 0,
	};
	stun_agent_init(&m->stun, known, STUN_COMPATIBILITY_RFC5389,
	                STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
	random_bytes(&m->tie, sizeof m->tie);
	m->owner_socket = sock;
	m->owner_fd = g_socket_get_fd(sock);
	logm(m, "the owner reads the selected pair's socket (fd %d)", m->owner_fd);
}

/* A check's USERNAME is "OURS:THEIRS"; its key is our password. */
static bool stun_password(StunAgent *agent, StunMessage *message, uint8_t *username,
                          uint16_t username_len, uint8_t **password, size_t *password_len,
                          void *user_data)
{
	struct peer_media *m = user_data;
	size_t ul = strlen(m->ufrag);
	if (username_len <= ul || memcmp(username, m->ufrag, ul) || username[ul] != ':')
		return false;
	*password = (uint8_t *)m->pwd;
	*password_len = strlen(m->pwd);
	return true;
}

/* A STUN message at the selected pair's socket (shared false) or at the
 * owner's shared one: a consent check is answered where it came in; a
 * success answer to the move's check completes the move. */
static void stun_input(struct peer_media *m, const uint8_t *buf, size_t len,
                       const struct sockaddr_storage *from, socklen_t from_len, bool shared)
{
	StunMessage req, res;
	uint8_t out[576];
	size_t out_len = sizeof out;
	bool controlling = m->controlling;
	if (stun_agent_validate(&m->stun, &req, buf, len, stun_password, m) !=
	    STUN_VALIDATION_SUCCESS) {
		m->stun_refused++;
		return;
	}
	if (stun_message_get_class(&req) == STUN_RESPONSE) {
		/* the agent matched it to a check of ours and checked its
		 * integrity with the far end's password: only the move's are
		 * ever sent */
		if (shared && m->move == MOVE_PENDING) {
			m->move = MOVE_DONE;
			logm(m, "the far end moved the pair to the shared socket after %u check(s)",
			     m->move_checks);
			start_media(m, now_ms());
			notify(m);
		}
		return;
	}
	if (stun_message_get_class(&req) != STUN_REQUEST ||
	    stun_usage_ice_conncheck_create_reply(&m->stun, &req, &res, out, &out_len, from, from_len,
	                                          &controlling, m->tie,
	                                          STUN_USAGE_ICE_COMPATIBILITY_RFC5245) !=
	        STUN_USAGE_ICE_RETURN_SUCCESS) {
		m->stun_refused++;
		return;
	}
	if (shared)
		m->cfg.send_to(m->cfg.arg, out, out_len, from, from_len);
	else
		sendto(m->owner_fd, out, out_len, 0, (const struct sockaddr *)from, from_len);
	m->stun_answered++;
}

#define MOVE_RESEND_MS 200

static void send_move_check(struct peer_media *m, uint64_t now)
{
	/* USERNAME "THEIRS:OURS", keyed with their password (RFC 8445 7.2.2) */
	char user[sizeof m->remote_ufrag + sizeof m->ufrag + 1];
	int ul = snprintf(user, sizeof user, "%s:%s", m->remote_ufrag, m->ufrag);
	uint8_t out[576];
	StunMessage msg;
	size_t n = stun_usage_ice_conncheck_create(
	    &m->stun, &msg, out, sizeof out, (const uint8_t *)user, (size_t)ul,
	    (const uint8_t *)m->remote_pwd, strlen(m->remote_pwd), true, m->controlling,
	    m->cand_priority, m->tie, NULL, STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
	m->move_next_ms = now + MOVE_RESEND_MS;
	if (n == 0)
		return;
	m->move_checks++;
	m->cfg.send_to(m->cfg.arg, out, n, &m->remote_sa, m->remote_sa_len);
}

int peer_media_move(struct peer_media *m, struct sockaddr_storage *remote, socklen_t *remote_len)
{
	if (!m->cfg.shared || !m->cfg.send_to)
		return -EINVAL;
	if (m->move != MOVE_NONE)
		return -EALREADY;
	if (!srtp_ready(m) || m->owner_fd < 0)
		return -EAGAIN;
	memcpy(remote, &m->remote_sa, sizeof *remote);
	*remote_len = m->remote_sa_len;
	m->move = MOVE_PENDING;
	send_move_check(m, now_ms());
	schedule(m);
	return 0;
}

void peer_media_release_ice(struct peer_media *m)
{
	if (m->move != MOVE_DONE || !m->agent)
		return;
	if (m->owner_socket)
		g_object_unref(m->owner_socket);
	m->owner_socket = NULL;
	m->owner_fd = -1;
	nice_agent_attach_recv(m->agent, m->stream, 1, m->ctx, NULL, NULL);
	g_signal_handlers_disconnect_by_data(m->agent, m);
	g_object_unref(m->agent);
	m->agent = NULL;
}

void peer_media_input(struct peer_media *m, const uint8_t *buf, size_t len,
                      const struct sockaddr_storage *from, socklen_t from_len)
{
	if (len > 0 && buf[0] < 4) /* STUN (RFC 7983) */
		stun_input(m, buf, len, from, from_len, true);
	else
		on_datagram(m, buf, len);
	schedule(m);
}

int peer_media_fd(const struct peer_media *m)
{
	return m->owner_fd;
}

#define PUMP_BATCH 16

void peer_media_pump(struct peer_media *m)
{
	if (m->owner_fd < 0)
		return;
	uint8_t bufs[PUMP_BATCH][PACKET_MAX];
	struct iovec iov[PUMP_BATCH];
	struct sockaddr_storage from[PUMP_BATCH];
	struct mmsghdr msgs[PUMP_BATCH];
	for (unsigned round = 0; round < 8; round++) {
		for (unsigned i = 0; i < PUMP_BATCH; i++) {
			iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = PACKET_MAX};
			msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &from[i],
			                                       .msg_namelen = sizeof from[i],
			                                       .msg_iov = &iov[i],
			                                       .msg_iovlen = 1}};
		}
		int n = recvmmsg(m->owner_fd, msgs, PUMP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			size_t len = msgs[i].msg_len;
			if (len > 0 && bufs[i][0] < 4) /* STUN (RFC 7983) */
				stun_input(m, bufs[i], len, &from[i], msgs[i].msg_hdr.msg_namelen, false);
			else
				on_datagram(m, bufs[i], len);
		}
		if (n < PUMP_BATCH)
			break;
	}
	schedule(m);
}

static void gathering_done_cb(NiceAgent *agent, guint stream, gpointer data)
{
	struct peer_media *m = data;
	m->gathered = true;
}

static void component_state_cb(NiceAgent *agent, guint stream, guint component, guint state,
                               gpointer data)
{
	struct peer_media *m = data;
	if (state == NICE_COMPONENT_STATE_READY && !m->ice_ready) {
		m->ice_ready = true; /* nominated: cfg.owner_reads may take the socket */
		notify(m);
	}
	if (state == NICE_COMPONENT_STATE_CONNECTING && m->ice == ICE_NEW) {
		m->ice = ICE_CHECKING;
	} else if ((state == NICE_COMPONENT_STATE_CONNECTED ||
	            state == NICE_COMPONENT_STATE_READY) &&
	           m->ice != ICE_CONNECTED) {
		m->ice = ICE_CONNECTED;
		if (!m->t_ice) {
			m->t_ice = now_ms();
			logm(m, "ICE connected after %" PRIu64 " ms (%s)", m->t_ice - m->t_negotiated,
			     m->selected[0] ? m->selected : "pair not reported yet");
		}
		if (m->dtls && !m->dtls_started) {
			dtls_start(m->dtls, now_ms());
			m->dtls_started = true;
		}
		notify(m);
		schedule(m);
	} else if (state == NICE_COMPONENT_STATE_FAILED && m->ice != ICE_FAILED) {
		m->ice = ICE_FAILED;
		logm(m, "ICE failed");
		notify(m);
	}
}

static void selected_pair_cb(NiceAgent *agent, guint stream, guint component,
                             NiceCandidate *local, NiceCandidate *remote, gpointer data)
{
	struct peer_media *m = data;
	char la[INET6_ADDRSTRLEN], ra[INET6_ADDRSTRLEN];
	nice_address_to_string(&local->addr, la);
	nice_address_to_string(&remote->addr, ra);
	snprintf(m->selected, sizeof m->selected, "%s:%u -> %s:%u", la,
	         nice_address_get_port(&local->addr), ra, nice_address_get_port(&remote->addr));
	logm(m, "selected pair %s", m->selected);
}

static gboolean gather_timeout_cb(gpointer data)
{
	*(bool *)data = true;
	return G_SOURCE_REMOVE;
}

static void set_bool_property(NiceAgent *agent, const char *name, gboolean value)
{
	if (g_object_class_find_property(G_OBJECT_GET_CLASS(agent), name))
		g_object_set(agent, name, value, NULL);
}

static int make_agent(struct peer_media *m)
{
	/* An owner that reads the socket itself answers the far end's consent
	 * checks but passes no STUN response to libnice: no checks of ours. */
	NiceAgentOption options = NICE_AGENT_OPTION_REGULAR_NOMINATION;
	if (!m->cfg.owner_reads)
		options |= NICE_AGENT_OPTION_CONSENT_FRESHNESS;
	m->agent = nice_agent_new_full(m->ctx, NICE_COMPATIBILITY_RFC5245, options);
	if (!m->agent)
		return -EIO;
	set_bool_property(m->agent, "ice-tcp", FALSE);
	set_bool_property(m->agent, "ice-udp", TRUE);
	set_bool_property(m->agent, "upnp", FALSE);
	NiceAddress local;
	nice_address_init(&local);
	if (!nice_address_set_from_string(&local, "127.0.0.1") ||
	    !nice_agent_add_local_address(m->agent, &local))
		return -EIO;
	m->stream = nice_agent_add_stream(m->agent, 1);
	if (!m->stream)
		return -EIO;
	if (!nice_agent_set_local_credentials(m->agent, m->stream, m->ufrag, m->pwd))
		return -EIO;
	g_signal_connect(m->agent, "candidate-gathering-done", G_CALLBACK(gathering_done_cb), m);
	g_signal_connect(m->agent, "component-state-changed", G_CALLBACK(component_state_cb), m);
	g_signal_connect(m->agent, "new-selected-pair-full", G_CALLBACK(selected_pair_cb), m);
	if (!nice_agent_attach_recv(m->agent, m->stream, 1, m->ctx, nice_recv_cb, m))
		return -EIO;
	if (!nice_agent_gather_candidates(m->agent, m->stream))
		return -EIO;
	bool timed_out = false;
	GSource *guard = attach(m, g_timeout_source_new(GATHER_TIMEOUT_MS), gather_timeout_cb,
	                        &timed_out);
	while (!m->gathered && !timed_out)
		g_main_context_iteration(m->ctx, TRUE);
	drop_source(&guard);
	GSList *cands = nice_agent_get_local_candidates(m->agent, m->stream, 1);
	int rc = -EIO;
	for (GSList *i = cands; i; i = i->next) {
		NiceCandidate *c = i->data;
		if (c->transport != NICE_CANDIDATE_TRANSPORT_UDP ||
		    c->type != NICE_CANDIDATE_TYPE_HOST || rc == 0)
			continue;
		nice_address_to_string(&c->addr, m->cand_addr);
		m->cand_port = (uint16_t)nice_address_get_port(&c->addr);
		copy_str(m->cand_foundation, sizeof m->cand_foundation, c->foundation);
		m->cand_priority = c->priority;
		rc = 0;
	}
	g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
	return rc;
}

/* --no-ice: a port that was free a moment ago and that nobody reads. */
static int dead_port(struct peer_media *m)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	int rc = 0;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &al))
		rc = -errno;
	close(fd);
	if (rc)
		return rc;
	copy_str(m->cand_addr, sizeof m->cand_addr, "127.0.0.1");
	m->cand_port = ntohs(a.sin_port);
	copy_str(m->cand_foundation, sizeof m->cand_foundation, "1");
	m->cand_priority = 2122260223u;
	m->ice = ICE_DISABLED;
	return 0;
}

/* ---- life ---- */

int peer_media_new(const struct peer_media_config *cfg, struct peer_media **out)
{
	struct peer_media *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	m->ctx = g_main_context_ref_thread_default();
	m->owner_fd = -1;
	m->ptime_ms = cfg->ptime_ms ? cfg->ptime_ms : DEFAULT_PTIME_MS;
	m->pcmu_pt = -1;
	m->te_pt = -1;
	m->expect = calloc(cfg->packets ? cfg->packets : 1, 1);
	m->returned = calloc(cfg->packets ? cfg->packets : 1, sizeof *m->returned);
	if (!m->expect || !m->returned) {
		peer_media_free(m);
		return -ENOMEM;
	}
	random_ice_chars(m->ufrag, 4);
	random_ice_chars(m->pwd, 24);
	if (cfg->bad_fingerprint) {
		uint8_t fp[32];
		random_bytes(fp, sizeof fp);
		for (unsigned i = 0; i < 32; i++)
			snprintf(m->fingerprint + 3 * i, 4, i < 31 ? "%02X:" : "%02X", fp[i]);
	} else {
		copy_str(m->fingerprint, sizeof m->fingerprint, dtls_cert_fingerprint(cfg->cert));
	}
	random_bytes(&m->sess_id, sizeof m->sess_id);
	m->sess_id &= INT64_MAX;
	m->sess_version = 1;
	random_alnum(m->cname, 16);
	random_uuid(m->audio_track, sizeof m->audio_track);
	random_uuid(m->video_track, sizeof m->video_track);
	m->ssrc = random_u32();
	m->video_ssrc = random_u32();
	m->video_rtx_ssrc = random_u32();
	if (cfg->tag)
		memcpy(m->tag, cfg->tag, sizeof m->tag);
	else
		random_bytes(m->tag, sizeof m->tag);
	uint16_t seq0;
	random_bytes(&seq0, sizeof seq0);
	m->seq = seq0 & 0x7fff; /* as browsers do: room before the first wrap */
	m->ts0 = random_u32();
	m->jitter_rng = random_u32() | 1;
	m->slot_jitter_ms = next_jitter(m);
	int rc = cfg->no_ice ? dead_port(m) : make_agent(m);
	if (rc < 0) {
		peer_media_free(m);
		return rc;
	}
	logm(m, "candidate %s:%u, ICE %s/%s, fingerprint %s%s", m->cand_addr, m->cand_port,
	     m->ufrag, m->pwd, m->fingerprint, cfg->bad_fingerprint ? " (not its certificate's)" : "");
	*out = m;
	return 0;
}

void peer_media_free(struct peer_media *m)
{
	if (!m)
		return;
	drop_source(&m->timer);
	drop_source(&m->notify_idle);
	if (m->owner_socket)
		g_object_unref(m->owner_socket);
	if (m->agent) {
		nice_agent_attach_recv(m->agent, m->stream, 1, m->ctx, NULL, NULL);
		g_signal_handlers_disconnect_by_data(m->agent, m);
		g_object_unref(m->agent);
	}
	if (m->parked)
		g_main_context_unref(m->parked);
	for (unsigned i = 0; i < m->n_pending; i++)
		free(m->pending[i]);
	dtls_free(m->dtls);
	srtp_session_free(m->srtp);
	sdp_free(m->pending_offer);
	free(m->expect);
	free(m->returned);
	if (m->ctx)
		g_main_context_unref(m->ctx);
	free(m);
}

/* ---- descriptions ---- */

static void write_transport(const struct peer_media *m, struct sip_buf *b, const char *mid,
                            const char *setup)
{
	sip_buf_printf(b, "c=IN IP4 %s\r\n", m->cand_addr);
	sip_buf_printf(b, "a=rtcp:9 IN IP4 0.0.0.0\r\n");
	sip_buf_printf(b,
	               "a=candidate:%s 1 udp %" PRIu32 " %s %u typ host generation 0 network-id 1\r\n",
	               m->cand_foundation, m->cand_priority, m->cand_addr, m->cand_port);
	sip_buf_printf(b, "a=end-of-candidates\r\n");
	sip_buf_printf(b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=ice-options:trickle\r\n", m->ufrag,
	               m->pwd);
	sip_buf_printf(b, "a=fingerprint:sha-256 %s\r\n", m->fingerprint);
	sip_buf_printf(b, "a=setup:%s\r\na=mid:%s\r\n", setup, mid);
}

static void write_session(struct peer_media *m, struct sip_buf *b)
{
	m->sess_version++;
	sip_buf_printf(b, "v=0\r\no=- %" PRIu64 " %" PRIu64 " IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
	               m->sess_id, m->sess_version);
}

static void write_ssrc(const struct peer_media *m, struct sip_buf *b, uint32_t ssrc,
                       const char *track)
{
	sip_buf_printf(b, "a=ssrc:%" PRIu32 " cname:%s\r\n", ssrc, m->cname);
	sip_buf_printf(b, "a=ssrc:%" PRIu32 " msid:- %s\r\n", ssrc, track);
}

static void write_rtpmap(struct sip_buf *b, uint8_t pt, const char *enc, uint32_t clock,
                         uint16_t channels)
{
	if (channels)
		sip_buf_printf(b, "a=rtpmap:%u %s/%" PRIu32 "/%u\r\n", pt, enc, clock, channels);
	else
		sip_buf_printf(b, "a=rtpmap:%u %s/%" PRIu32 "\r\n", pt, enc, clock);
}

static void write_video_offer(struct peer_media *m, struct sip_buf *b, enum sdp_direction dir)
{
	static const char *const fb[] = {"goog-remb", "transport-cc", "ccm fir", "nack",
	                                 "nack pli"};
	sip_buf_printf(b, "m=video %u UDP/TLS/RTP/SAVPF 96 97 102 103\r\n", m->cand_port);
	write_transport(m, b, "1", "actpass");
	for (size_t i = 0; i < sizeof VIDEO_EXTMAPS / sizeof VIDEO_EXTMAPS[0]; i++)
		sip_buf_printf(b, "a=extmap:%s\r\n", VIDEO_EXTMAPS[i]);
	sip_buf_printf(b, "a=%s\r\na=msid:- %s\r\na=rtcp-mux\r\na=rtcp-rsize\r\n",
	               sdp_direction_name(dir), m->video_track);
	sip_buf_printf(b, "a=rtpmap:96 VP8/90000\r\n");
	for (size_t i = 0; i < 5; i++)
		sip_buf_printf(b, "a=rtcp-fb:96 %s\r\n", fb[i]);
	sip_buf_printf(b, "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n");
	sip_buf_printf(b, "a=rtpmap:102 H264/90000\r\n");
	for (size_t i = 0; i < 5; i++)
		sip_buf_printf(b, "a=rtcp-fb:102 %s\r\n", fb[i]);
	sip_buf_printf(b, "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;"
	                  "profile-level-id=42001f\r\n");
	sip_buf_printf(b, "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n");
	if (dir == SDP_DIR_SENDRECV || dir == SDP_DIR_SENDONLY) {
		sip_buf_printf(b, "a=ssrc-group:FID %" PRIu32 " %" PRIu32 "\r\n", m->video_ssrc,
		               m->video_rtx_ssrc);
		write_ssrc(m, b, m->video_ssrc, m->video_track);
		write_ssrc(m, b, m->video_rtx_ssrc, m->video_track);
	}
}

static void fix_ice_role(struct peer_media *m, bool controlling)
{
	if (m->role_fixed)
		return;
	m->role_fixed = true;
	m->controlling = controlling;
	if (m->agent)
		g_object_set(m->agent, "controlling-mode", controlling, NULL);
}

static char *finish_text(struct sip_buf *b)
{
	if (b->error || !b->p) {
		sip_buf_free(b);
		return NULL;
	}
	return b->p; /* the buffer's memory, kept NUL-terminated, now the caller's */
}

int peer_media_offer(struct peer_media *m, enum sdp_direction dir, char **sdp)
{
	fix_ice_role(m, true);
	struct sip_buf b;
	sip_buf_init(&b, 0);
	write_session(m, &b);
	sip_buf_printf(&b, "a=group:BUNDLE 0%s\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n",
	               m->cfg.video ? " 1" : "");
	sip_buf_printf(&b, "m=audio %u UDP/TLS/RTP/SAVPF", m->cand_port);
	for (size_t i = 0; i < sizeof AUDIO_OFFER / sizeof AUDIO_OFFER[0]; i++)
		sip_buf_printf(&b, " %u", AUDIO_OFFER[i].pt);
	sip_buf_printf(&b, "\r\n");
	write_transport(m, &b, "0", "actpass");
	for (size_t i = 0; i < sizeof AUDIO_EXTMAPS / sizeof AUDIO_EXTMAPS[0]; i++)
		sip_buf_printf(&b, "a=extmap:%s\r\n", AUDIO_EXTMAPS[i]);
	sip_buf_printf(&b, "a=%s\r\na=msid:- %s\r\na=rtcp-mux\r\na=rtcp-rsize\r\n",
	               sdp_direction_name(dir), m->audio_track);
	for (size_t i = 0; i < sizeof AUDIO_OFFER / sizeof AUDIO_OFFER[0]; i++) {
		const struct codec_def *c = &AUDIO_OFFER[i];
		write_rtpmap(&b, c->pt, c->encoding, c->clock, c->channels);
		if (c->rtcp_fb)
			sip_buf_printf(&b, "a=rtcp-fb:%u %s\r\n", c->pt, c->rtcp_fb);
		if (c->fmtp)
			sip_buf_printf(&b, "a=fmtp:%u %s\r\n", c->pt, c->fmtp);
	}
	if (dir == SDP_DIR_SENDRECV || dir == SDP_DIR_SENDONLY)
		write_ssrc(m, &b, m->ssrc, m->audio_track);
	if (m->cfg.video)
		write_video_offer(m, &b, dir);
	*sdp = finish_text(&b);
	if (!*sdp)
		return -ENOMEM;
	m->offer_out = true;
	m->offered_dir = dir;
	m->have_local = true;
	return 0;
}

static const struct sdp_attr *attr_of(const struct sdp_session *s, const struct sdp_media *am,
                                      enum sdp_attr_kind kind)
{
	const struct sdp_attr *a = sdp_media_attr(am, kind, NULL);
	return a ? a : sdp_session_attr(s, kind, NULL);
}

static enum sdp_direction mirror(enum sdp_direction d)
{
	switch (d) {
	case SDP_DIR_SENDONLY: return SDP_DIR_RECVONLY;
	case SDP_DIR_RECVONLY: return SDP_DIR_SENDONLY;
	case SDP_DIR_INACTIVE: return SDP_DIR_INACTIVE;
	default: return SDP_DIR_SENDRECV;
	}
}

static bool dir_sends(enum sdp_direction d)
{
	return d == SDP_DIR_SENDRECV || d == SDP_DIR_SENDONLY || d == SDP_DIR_NONE;
}

static bool dir_receives(enum sdp_direction d)
{
	return d == SDP_DIR_SENDRECV || d == SDP_DIR_RECVONLY || d == SDP_DIR_NONE;
}

static NiceCandidateType candidate_type(const char *t)
{
	if (!strcasecmp(t, "srflx"))
		return NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE;
	if (!strcasecmp(t, "prflx"))
		return NICE_CANDIDATE_TYPE_PEER_REFLEXIVE;
	if (!strcasecmp(t, "relay"))
		return NICE_CANDIDATE_TYPE_RELAYED;
	return NICE_CANDIDATE_TYPE_HOST;
}

/* The far end's UDP IPv4 candidates of component 1 (rtcp-mux); without any,
 * its c= address and m= port as a host candidate. */
static GSList *remote_candidates(struct peer_media *m, const struct sdp_session *s,
                                 const struct sdp_media *am)
{
	GSList *list = NULL;
	unsigned from = 0;
	const struct sdp_attr *a;
	struct in_addr ip4;
	while ((a = sdp_attr_next(am->attrs, am->n_attrs, SDP_ATTR_CANDIDATE, NULL, &from))) {
		const struct sdp_candidate *c = &a->u.candidate;
		if (c->component != 1 || strcasecmp(c->transport, "udp") ||
		    inet_pton(AF_INET, c->address, &ip4) != 1)
			continue;
		NiceCandidate *nc = nice_candidate_new(candidate_type(c->type));
		nc->stream_id = m->stream;
		nc->component_id = 1;
		nc->transport = NICE_CANDIDATE_TRANSPORT_UDP;
		nc->priority = c->priority;
		g_strlcpy(nc->foundation, c->foundation, sizeof nc->foundation);
		nice_address_set_from_string(&nc->addr, c->address);
		nice_address_set_port(&nc->addr, c->port);
		list = g_slist_append(list, nc);
	}
	const struct sdp_connection *conn = sdp_media_connection(s, am);
	if (!list && conn && inet_pton(AF_INET, conn->address, &ip4) == 1 && ip4.s_addr != 0) {
		NiceCandidate *nc = nice_candidate_new(NICE_CANDIDATE_TYPE_HOST);
		nc->stream_id = m->stream;
		nc->component_id = 1;
		nc->transport = NICE_CANDIDATE_TRANSPORT_UDP;
		nc->priority = 2122260223u;
		g_strlcpy(nc->foundation, "default", sizeof nc->foundation);
		nice_address_set_from_string(&nc->addr, conn->address);
		nice_address_set_port(&nc->addr, am->port);
		list = g_slist_append(list, nc);
	}
	return list;
}

/* The first transport the far end describes: ICE and the DTLS role. */
static int apply_transport(struct peer_media *m, const struct sdp_session *s,
                           const struct sdp_media *am, bool offer, const char **why)
{
	const struct sdp_attr *ufrag = attr_of(s, am, SDP_ATTR_ICE_UFRAG);
	const struct sdp_attr *pwd = attr_of(s, am, SDP_ATTR_ICE_PWD);
	if (m->have_remote) {
		if (strcmp(ufrag->value, m->remote_ufrag) || strcmp(pwd->value, m->remote_pwd)) {
			*why = "ICE restart (new ufrag/pwd) is not supported by the peer";
			return -ENOTSUP;
		}
		return 0;
	}
	m->remote_ice_lite = sdp_session_attr(s, SDP_ATTR_ICE_LITE, NULL) != NULL;
	if (!offer && m->remote_setup == SDP_SETUP_ACTPASS) {
		*why = "an answer with a=setup:actpass";
		return -EPROTO;
	}
	if (!copy_str(m->remote_ufrag, sizeof m->remote_ufrag, ufrag->value) ||
	    !copy_str(m->remote_pwd, sizeof m->remote_pwd, pwd->value)) {
		*why = "ICE credentials too long";
		return -EPROTO;
	}
	/* who checks and nominates: the offerer, unless the far end is lite */
	fix_ice_role(m, !offer || m->remote_ice_lite);
	if (m->remote_ice_lite && !m->controlling) {
		m->controlling = true;
		if (m->agent)
			g_object_set(m->agent, "controlling-mode", TRUE, NULL);
	}
	if (m->agent) {
		GSList *cands = remote_candidates(m, s, am);
		if (!nice_agent_set_remote_credentials(m->agent, m->stream, m->remote_ufrag,
		                                       m->remote_pwd)) {
			g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
			*why = "ICE credentials refused";
			return -EPROTO;
		}
		int added = cands ? nice_agent_set_remote_candidates(m->agent, m->stream, 1, cands) : 0;
		g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
		m->remote_candidates = added > 0 ? (unsigned)added : 0;
		logm(m, "remote ICE %s/%s%s, %u candidate(s), %s", m->remote_ufrag, m->remote_pwd,
		     m->remote_ice_lite ? " (lite)" : "", m->remote_candidates,
		     m->controlling ? "controlling" : "controlled");
		if (m->ice == ICE_NEW)
			m->ice = ICE_CHECKING;
	}
	m->have_remote = true;
	return 0;
}

/* Whoever is active is the DTLS client (RFC 5763 §5). Answering, we take
 * active unless the offer is active itself; offering actpass, the answer
 * chooses. A missing a=setup means active (RFC 4145 §4). */
static bool remote_is_active(enum sdp_setup remote)
{
	return remote == SDP_SETUP_ACTIVE || remote == SDP_SETUP_NONE;
}

int peer_media_set_remote(struct peer_media *m, const char *text, size_t len, bool offer,
                          const char **why)
{
	static const char *unused;
	if (!why)
		why = &unused;
	if (!offer && !m->offer_out) {
		*why = "an answer without an offer";
		return -EPROTO;
	}
	struct sdp_session *s = NULL;
	struct sdp_error err = {0};
	int rc = sdp_parse(text, len, &s, &err);
	if (rc < 0) {
		*why = err.reason ? err.reason : "SDP does not parse";
		return rc;
	}
	rc = -EPROTO;
	unsigned audio = s->n_media;
	for (unsigned i = 0; i < s->n_media; i++)
		if (!strcmp(s->media[i].type, "audio") && s->media[i].port != 0) {
			audio = i;
			break;
		}
	const struct sdp_media *am = audio < s->n_media ? &s->media[audio] : NULL;
	const struct sdp_attr *fp = am ? attr_of(s, am, SDP_ATTR_FINGERPRINT) : NULL;
	const struct sdp_attr *setup = am ? attr_of(s, am, SDP_ATTR_SETUP) : NULL;
	if (!am)
		*why = "no audio section accepted";
	else if (strcasecmp(am->proto, "UDP/TLS/RTP/SAVPF") && strcasecmp(am->proto, "UDP/TLS/RTP/SAVP"))
		*why = "audio is not DTLS-SRTP (UDP/TLS/RTP/SAVPF)";
	else if (!sdp_media_attr(am, SDP_ATTR_RTCP_MUX, NULL))
		*why = "no a=rtcp-mux";
	else if (!attr_of(s, am, SDP_ATTR_ICE_UFRAG) || !attr_of(s, am, SDP_ATTR_ICE_PWD))
		*why = "no ICE ufrag/pwd";
	else if (!fp)
		*why = "no a=fingerprint";
	else
		rc = 0;
	if (rc < 0)
		goto out;

	if (m->have_remote && (strcasecmp(fp->u.fingerprint.hash, m->remote_fp_alg) ||
	                       strcasecmp(fp->u.fingerprint.value, m->remote_fp))) {
		*why = "a new fingerprint (DTLS restart) is not supported by the peer";
		rc = -ENOTSUP;
		goto out;
	}
	if (!m->have_remote) {
		m->remote_setup = setup ? setup->u.setup : SDP_SETUP_NONE;
		if (!copy_str(m->remote_fp_alg, sizeof m->remote_fp_alg, fp->u.fingerprint.hash) ||
		    !copy_str(m->remote_fp, sizeof m->remote_fp, fp->u.fingerprint.value)) {
			*why = "fingerprint too long";
			rc = -EPROTO;
			goto out;
		}
	}
	rc = apply_transport(m, s, am, offer, why);
	if (rc < 0)
		goto out;

	struct sdp_codec c;
	enum sdp_direction rdir = sdp_media_direction(s, am);
	m->pcmu_pt = sdp_media_find_codec(am, "PCMU", 8000, &c) == 0 ? c.pt : -1;
	m->te_pt = sdp_media_find_codec(am, "telephone-event", 8000, &c) == 0 ? c.pt : -1;
	if (offer) {
		enum sdp_direction ldir = mirror(rdir);
		m->send_ok = dir_sends(ldir);
		m->recv_ok = dir_receives(ldir);
		sdp_free(m->pending_offer);
		m->pending_offer = s;
		m->pending_audio = audio;
		s = NULL;
	} else {
		m->send_ok = dir_sends(m->offered_dir) && dir_receives(rdir);
		m->recv_ok = dir_receives(m->offered_dir) && dir_sends(rdir);
		m->offer_out = false;
	}
	logm(m, "remote %s applied: audio %s, PCMU pt %d, telephone-event pt %d, we %s%s",
	     offer ? "offer" : "answer", sdp_direction_name(rdir), m->pcmu_pt, m->te_pt,
	     m->send_ok ? "send" : "do not send", m->recv_ok ? " and receive" : ", receive nothing");
	if (!m->dtls && m->agent && !m->cfg.no_ice) {
		rc = dtls_prepare(m, remote_is_active(m->remote_setup) ? DTLS_ROLE_SERVER
		                                                        : DTLS_ROLE_CLIENT);
		if (rc < 0) {
			*why = "DTLS endpoint refused the fingerprint";
			goto out;
		}
	}
	if (!offer && !m->negotiated) {
		m->negotiated = true;
		m->t_negotiated = now_ms();
	}
	schedule(m);
	rc = 0;
out:
	sdp_free(s);
	return rc;
}

static bool answerable(const struct sdp_codec *c, const struct codec_def **def)
{
	for (size_t i = 0; i < sizeof AUDIO_ANSWERABLE / sizeof AUDIO_ANSWERABLE[0]; i++) {
		const struct codec_def *d = &AUDIO_ANSWERABLE[i];
		if (c->encoding && !strcasecmp(c->encoding, d->encoding) && c->clock == d->clock) {
			*def = d;
			return true;
		}
	}
	return false;
}

static void write_audio_answer(struct peer_media *m, struct sip_buf *b,
                               const struct sdp_session *o, const struct sdp_media *om,
                               const char *mid)
{
	struct sdp_codec c;
	const struct codec_def *def;
	sip_buf_printf(b, "m=audio %u %s", m->cand_port, om->proto);
	for (unsigned i = 0; i < om->n_formats; i++)
		if (sdp_media_codec_at(om, i, &c) == 0 && answerable(&c, &def))
			sip_buf_printf(b, " %u", c.pt);
	sip_buf_printf(b, "\r\n");
	write_transport(m, b, mid, remote_is_active(m->remote_setup) ? "passive" : "active");
	enum sdp_direction dir = mirror(sdp_media_direction(o, om));
	sip_buf_printf(b, "a=%s\r\na=msid:- %s\r\na=rtcp-mux\r\n", sdp_direction_name(dir),
	               m->audio_track);
	if (sdp_media_attr(om, SDP_ATTR_RTCP_RSIZE, NULL))
		sip_buf_printf(b, "a=rtcp-rsize\r\n");
	for (unsigned i = 0; i < om->n_formats; i++) {
		if (sdp_media_codec_at(om, i, &c) || !answerable(&c, &def))
			continue;
		write_rtpmap(b, c.pt, c.encoding, c.clock, c.channels);
		if (def->rtcp_fb)
			sip_buf_printf(b, "a=rtcp-fb:%u %s\r\n", c.pt, def->rtcp_fb);
		if (def->fmtp)
			sip_buf_printf(b, "a=fmtp:%u %s\r\n", c.pt, def->fmtp);
	}
	if (dir_sends(dir))
		write_ssrc(m, b, m->ssrc, m->audio_track);
}

int peer_media_answer(struct peer_media *m, char **sdp)
{
	const struct sdp_session *o = m->pending_offer;
	if (!o)
		return -EPROTO;
	struct sip_buf b;
	sip_buf_init(&b, 0);
	write_session(m, &b);
	const struct sdp_attr *bundle = sdp_session_attr(o, SDP_ATTR_GROUP, NULL);
	const struct sdp_media *oa = &o->media[m->pending_audio];
	const struct sdp_attr *amid = sdp_media_attr(oa, SDP_ATTR_MID, NULL);
	const char *mid = amid && amid->value ? amid->value : "0";
	if (bundle && !strcmp(bundle->u.group.semantics, "BUNDLE") && amid)
		sip_buf_printf(&b, "a=group:BUNDLE %s\r\n", mid);
	if (sdp_session_attr(o, SDP_ATTR_EXTMAP_ALLOW_MIXED, NULL))
		sip_buf_printf(&b, "a=extmap-allow-mixed\r\n");
	sip_buf_printf(&b, "a=msid-semantic: WMS\r\n");
	for (unsigned i = 0; i < o->n_media; i++) {
		const struct sdp_media *om = &o->media[i];
		const struct sdp_attr *omid = sdp_media_attr(om, SDP_ATTR_MID, NULL);
		if (i == m->pending_audio) {
			write_audio_answer(m, &b, o, om, mid);
			continue;
		}
		/* refused: port 0 with the first format, as RFC 3264 §6 has it */
		sip_buf_printf(&b, "m=%s 0 %s %s\r\n", om->type, om->proto,
		               om->n_formats ? om->formats[0] : "0");
		sip_buf_printf(&b, "c=IN IP4 0.0.0.0\r\n");
		if (omid && omid->value)
			sip_buf_printf(&b, "a=mid:%s\r\n", omid->value);
	}
	*sdp = finish_text(&b);
	if (!*sdp)
		return -ENOMEM;
	sdp_free(m->pending_offer);
	m->pending_offer = NULL;
	m->have_local = true;
	if (!m->negotiated) {
		m->negotiated = true;
		m->t_negotiated = now_ms();
	}
	schedule(m);
	return 0;
}

/* ---- during the call ---- */

int peer_media_send_dtmf(struct peer_media *m, const char *digits)
{
	unsigned added = 0;
	for (const char *p = digits; *p; p++) {
		if (dtmf_event_code(*p) < 0 || m->dtmf_len + 1 >= sizeof m->dtmf_queue)
			continue;
		m->dtmf_queue[m->dtmf_len++] = *p;
		added++;
	}
	if (!added)
		return -EINVAL;
	/* digits queued after the audio ran out still need the pacing clock */
	if (m->sending_done) {
		m->sending_done = false;
		m->finished_notified = false;
	}
	if (srtp_ready(m) && !m->next_slot_ms)
		m->next_slot_ms = now_ms();
	schedule(m);
	return 0;
}

void peer_media_stop_sending(struct peer_media *m)
{
	if (m->stopped)
		return;
	m->stopped = true;
	logm(m, "stops sending RTP and RTCP (%u RTP, %u RTCP sent)", m->rtp_sent, m->rtcp_sent);
	schedule(m);
}

bool peer_media_finished(const struct peer_media *m)
{
	if (m->ice == ICE_FAILED || m->dtls_error[0])
		return true;
	if (!srtp_ready(m))
		return false;
	if (m->cfg.echo)
		return false; /* the far end of a loopback waits for its owner */
	if (!m->stopped && (!sending_finished(m) || (m->cfg.packets && !m->sending_done)))
		return false;
	if (m->echo_returned >= m->expected)
		return true;
	return now_ms() >= m->last_sent_ms + ECHO_GRACE_MS;
}

/* ---- results ---- */

void peer_media_result(const struct peer_media *m, struct peer_media_result *r)
{
	struct srtp_counters sc = {0};
	if (m->srtp)
		srtp_session_counters(m->srtp, &sc);
	*r = (struct peer_media_result){
		.ice_connected = m->t_ice != 0,
		.dtls_connected = m->srtp != NULL,
		.ice_failed = m->ice == ICE_FAILED,
		.dtls_failed = m->dtls_error[0] != 0,
		.pcmu_negotiated = m->pcmu_pt >= 0,
		.rtp_sent = m->rtp_sent,
		.rtp_received = m->rtp_received,
		.echo_matches = m->echo_matches,
		.echo_mismatches = m->echo_mismatches,
		.echo_expected = m->expected,
		.echo_returned = m->echo_returned,
		.dtmf_sent_packets = m->dtmf_packets_sent,
		.dtmf_matches = m->dtmf_matches,
		.rtcp_sent = m->rtcp_sent,
		.rtcp_received = m->rtcp_received,
		.srtp_auth_failures = sc.auth_failures,
		.consent_answered = m->stun_answered,
		.consent_refused = m->stun_refused,
		.moved = m->move == MOVE_DONE,
		.move_checks = m->move_checks,
	};
}

static int64_t since(uint64_t t, uint64_t from)
{
	return t && from ? (int64_t)(t - from) : -1;
}

void peer_media_json(const struct peer_media *m, struct peer_json *j)
{
	struct srtp_counters sc = {0};
	if (m->srtp)
		srtp_session_counters(m->srtp, &sc);
	struct dtls_stats ds = {0};
	if (m->dtls)
		ds = dtls_stats(m->dtls);
	char addr[96];

	peer_json_ms(j, "ice_connected_ms", since(m->t_ice, m->t_negotiated));
	peer_json_ms(j, "dtls_connected_ms", since(m->t_dtls, m->t_negotiated));
	peer_json_string(j, "srtp_profile", m->srtp ? profile_name(m->profile) : NULL);

	peer_json_object_begin(j, "ice");
	peer_json_string(j, "state", ICE_STATE_NAMES[m->ice]);
	peer_json_string(j, "role",
	                 !m->role_fixed ? NULL : m->controlling ? "controlling" : "controlled");
	snprintf(addr, sizeof addr, "%s:%u", m->cand_addr, m->cand_port);
	peer_json_string(j, "local_candidate", addr);
	peer_json_uint(j, "remote_candidates", m->remote_candidates);
	peer_json_bool(j, "remote_ice_lite", m->remote_ice_lite);
	peer_json_string(j, "selected_pair", m->selected[0] ? m->selected : NULL);
	if (m->cfg.owner_reads) {
		peer_json_uint(j, "consent_answered", m->stun_answered);
		peer_json_uint(j, "consent_refused", m->stun_refused);
	}
	peer_json_object_end(j);

	peer_json_object_begin(j, "dtls");
	const char *state = "none";
	if (m->dtls) {
		switch (dtls_state(m->dtls)) {
		case DTLS_STATE_NEW: state = "new"; break;
		case DTLS_STATE_HANDSHAKING: state = "handshaking"; break;
		case DTLS_STATE_CONNECTED: state = "connected"; break;
		case DTLS_STATE_FAILED: state = "failed"; break;
		}
	}
	peer_json_string(j, "state", state);
	peer_json_string(j, "role", !m->dtls ? NULL
	                            : m->dtls_role == DTLS_ROLE_CLIENT ? "client" : "server");
	peer_json_string(j, "error", m->dtls_error[0] ? m->dtls_error : NULL);
	peer_json_uint(j, "datagrams_received", m->dtls_received);
	peer_json_uint(j, "before_start", m->dtls_early + m->n_pending);
	peer_json_uint(j, "datagrams_sent", ds.tx_datagrams);
	peer_json_uint(j, "refused", ds.rx_refused);
	peer_json_uint(j, "retransmits", ds.retransmits);
	peer_json_uint(j, "garbage_sent", m->garbage_sent);
	peer_json_object_end(j);

	peer_json_object_begin(j, "rtp");
	peer_json_bool(j, "send", m->send_ok);
	peer_json_bool(j, "receive", m->recv_ok);
	peer_json_int(j, "pcmu_pt", m->pcmu_pt);
	peer_json_int(j, "telephone_event_pt", m->te_pt);
	peer_json_uint(j, "ssrc", m->ssrc);
	peer_json_uint(j, "sent", m->rtp_sent);
	peer_json_uint(j, "audio_sent", m->audio_sent);
	peer_json_uint(j, "corrupted", m->corrupted);
	peer_json_bool(j, "stopped", m->stopped);
	peer_json_uint(j, "received", m->rtp_received);
	peer_json_uint(j, "before_keys", m->rtp_before_keys);
	peer_json_uint(j, "malformed", m->rtp_malformed);
	peer_json_array_begin(j, "remote_ssrcs");
	for (unsigned i = 0; i < m->n_ssrcs; i++)
		peer_json_uint(j, NULL, m->ssrcs[i]);
	peer_json_array_end(j);
	peer_json_object_begin(j, "payload_types");
	for (unsigned pt = 0; pt < 128; pt++) {
		if (!m->pt_counts[pt])
			continue;
		char key[8];
		snprintf(key, sizeof key, "%u", pt);
		peer_json_uint(j, key, m->pt_counts[pt]);
	}
	peer_json_object_end(j);
	if (m->rx.started) {
		peer_json_uint(j, "lost", (uint64_t)(rtp_seq_lost(&m->rx.seq) > 0
		                                         ? rtp_seq_lost(&m->rx.seq) : 0));
		peer_json_uint(j, "jitter", m->rx.jitter_q4 >> 4);
	}
	peer_json_object_end(j);

	if (!m->cfg.echo) {
		peer_json_object_begin(j, "echo");
		peer_json_uint(j, "matches", m->echo_matches);
		peer_json_uint(j, "mismatches", m->echo_mismatches);
		peer_json_uint(j, "duplicates", m->echo_duplicates);
		peer_json_uint(j, "expected", m->expected);
		peer_json_uint(j, "returned", m->echo_returned);
		peer_json_double(j, "ratio", m->expected ? (double)m->echo_returned / m->expected : 0);
		peer_json_string(j, "first_mismatch", m->first_mismatch[0] ? m->first_mismatch : NULL);
		peer_json_object_end(j);
	}

	peer_json_object_begin(j, "dtmf");
	peer_json_string_n(j, "digits_sent", m->dtmf_digits_sent, m->n_dtmf_digits);
	peer_json_uint(j, "packets_sent", m->dtmf_packets_sent);
	peer_json_uint(j, "packets_received", m->dtmf_received);
	peer_json_uint(j, "echo_matches", m->dtmf_matches);
	peer_json_object_end(j);

	peer_json_object_begin(j, "rtcp");
	peer_json_uint(j, "sent", m->rtcp_sent);
	peer_json_uint(j, "received", m->rtcp_received);
	peer_json_uint(j, "sr_received", m->rtcp_srs_received);
	peer_json_object_end(j);

	peer_json_object_begin(j, "srtp");
	peer_json_uint(j, "protected", sc.protected);
	peer_json_uint(j, "unprotected", sc.unprotected);
	peer_json_uint(j, "auth_failures", sc.auth_failures);
	peer_json_uint(j, "replays", sc.replays);
	peer_json_uint(j, "other_errors", sc.other_errors);
	peer_json_object_end(j);
}
