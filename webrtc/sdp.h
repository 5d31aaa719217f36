/* sdp.h — the SDP model: a parser and a serializer for session descriptions
 * (RFC 8866, which obsoletes RFC 4566), with the attributes WebRTC and SIP
 * media use, and the helpers an SDH needs for offer/answer (RFC 3264).
 *
 * A parsed description owns everything it points to: every string is copied
 * into one arena that lives as long as the description, so the text given to
 * sdp_parse() may be freed as soon as it returns. sdp_free() releases it all.
 *
 * Attributes are kept in the order they came, each with its name, its value
 * text exactly as sent (what sdp_print() writes back) and, for the attributes
 * this module knows, the value parsed into typed fields. The text is the truth
 * for printing, so an attribute this module does not know survives a round trip
 * unchanged. To change a description use the functions below, which keep the
 * text and the typed fields in step; writing to an attribute's typed fields
 * directly changes nothing that is printed. The other lines (o=, s=, c=, m='s
 * port) are printed from their fields, which may be set directly; a string put
 * there must live as long as the description (sdp_strdup() makes one that
 * does), and sdp_set_connection() sets a c= line.
 *
 * Pointers into a description (a media section, an attribute) stay valid until
 * a function that adds or removes something in the same list is called.
 *
 * Decisions:
 *  - A known attribute whose value is malformed (a=rtpmap:x, a candidate with
 *    fewer than eight fields, a=setup:maybe) fails the parse: the description is
 *    not one sipwire could answer correctly.
 *  - An a=rtpmap or a=fmtp for a payload type that is not in its m= line is
 *    kept (it is printed again) with `listed` false, and codec look-ups ignore
 *    it; some PBXs send rtpmaps for every codec they know.
 *  - Line type letters RFC 8866 does not define fail the parse (§5: a parser
 *    must ignore a description with a type it does not understand). Blank lines
 *    are skipped, lines may end in LF alone, and the optional session lines
 *    (i u e p b z k) are accepted in any order after v=.
 */
#ifndef SIPWIRE_WEBRTC_SDP_H
#define SIPWIRE_WEBRTC_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits; input beyond them fails the parse with -E2BIG. */
#define SDP_MAX_SIZE    65536u /* bytes of text */
#define SDP_MAX_MEDIA   64u    /* m= sections */
#define SDP_MAX_ATTRS   1024u  /* a= lines per section (session level included) */
#define SDP_MAX_FORMATS 128u   /* formats on one m= line */
#define SDP_MAX_LINES   64u    /* b= per section; t=; r= per t=; i= u= e= p= together */

/* Why a parse failed: the 1-based line number (0 when the problem is not on
 * one line, e.g. a missing s=) and a static English sentence. */
struct sdp_error {
	int line;
	const char *reason;
};

enum sdp_direction {
	SDP_DIR_NONE = 0, /* no direction attribute */
	SDP_DIR_SENDRECV,
	SDP_DIR_SENDONLY,
	SDP_DIR_RECVONLY,
	SDP_DIR_INACTIVE,
};

/* a=setup (RFC 4145 §4, RFC 5763 §5). */
enum sdp_setup {
	SDP_SETUP_NONE = 0,
	SDP_SETUP_ACTPASS,
	SDP_SETUP_ACTIVE,
	SDP_SETUP_PASSIVE,
	SDP_SETUP_HOLDCONN,
};

enum sdp_attr_kind {
	SDP_ATTR_OTHER = 0, /* kept as name and value only */
	SDP_ATTR_GROUP,
	SDP_ATTR_ICE_LITE,
	SDP_ATTR_ICE_UFRAG,
	SDP_ATTR_ICE_PWD,
	SDP_ATTR_ICE_OPTIONS,
	SDP_ATTR_FINGERPRINT,
	SDP_ATTR_SETUP,
	SDP_ATTR_MSID_SEMANTIC,
	SDP_ATTR_EXTMAP_ALLOW_MIXED,
	SDP_ATTR_RTPMAP,
	SDP_ATTR_FMTP,
	SDP_ATTR_RTCP_FB,
	SDP_ATTR_RTCP,
	SDP_ATTR_RTCP_MUX,
	SDP_ATTR_RTCP_RSIZE,
	SDP_ATTR_MID,
	SDP_ATTR_DIRECTION, /* sendrecv, sendonly, recvonly, inactive */
	SDP_ATTR_CANDIDATE,
	SDP_ATTR_END_OF_CANDIDATES,
	SDP_ATTR_SSRC,
	SDP_ATTR_SSRC_GROUP,
	SDP_ATTR_MSID,
	SDP_ATTR_EXTMAP,
	SDP_ATTR_PTIME,
	SDP_ATTR_MAXPTIME,
};

struct sdp_rtpmap {
	uint8_t pt;
	const char *encoding; /* as sent: "opus", "PCMU", "telephone-event" */
	uint32_t clock;       /* Hz */
	uint16_t channels;    /* 0 when absent (means 1 for audio) */
	bool listed;          /* pt is one of the m= line's formats */
};

struct sdp_fmtp {
	const char *format; /* as on the m= line */
	int pt;             /* the format as a payload type, or -1 */
	const char *params; /* "minptime=10;useinbandfec=1", "0-16"; may be "" */
	bool listed;
};

struct sdp_rtcp_fb {
	const char *format; /* a payload type or "*" */
	const char *type;   /* "nack", "transport-cc", "ccm" ... */
	const char *param;  /* "pli", "fir" ...; NULL when absent */
};

struct sdp_rtcp {
	uint16_t port;
	const char *nettype, *addrtype, *address; /* all NULL when absent */
};

/* RFC 8839 §5.1. */
struct sdp_candidate {
	const char *foundation;
	uint16_t component;
	const char *transport; /* "udp", "tcp" (as sent) */
	uint32_t priority;
	const char *address; /* IPv4, IPv6 or an mDNS name ("...local") */
	uint16_t port;
	const char *type;       /* "host", "srflx", "prflx", "relay" */
	const char *raddr;      /* NULL when absent */
	int32_t rport;          /* -1 when absent */
	const char *tcptype;    /* "active", "passive", "so"; NULL when absent */
	int64_t generation;     /* -1 when absent */
	const char *extensions; /* other "name value" pairs, in order; "" when none */
};

struct sdp_fingerprint {
	const char *hash;  /* "sha-256" */
	const char *value; /* "AB:CD:..." */
};

struct sdp_ssrc {
	uint32_t id;
	const char *attribute; /* "cname", "msid" */
	const char *value;     /* NULL when the attribute has none */
};

struct sdp_ssrc_group {
	const char *semantics; /* "FID", "SIM" */
	const uint32_t *ssrcs;
	unsigned count;
};

/* a=group (RFC 5888): "BUNDLE 0 1". */
struct sdp_group {
	const char *semantics;
	const char *const *ids;
	unsigned count;
};

struct sdp_msid {
	const char *stream; /* "-" when none */
	const char *track;  /* NULL when absent */
};

struct sdp_extmap {
	uint16_t id;
	enum sdp_direction direction; /* SDP_DIR_NONE when absent */
	const char *uri;
	const char *attributes; /* NULL when absent */
};

struct sdp_attr {
	enum sdp_attr_kind kind;
	const char *name;
	const char *value; /* the text after the first ':'; NULL for a flag */
	union {
		struct sdp_group group;
		struct sdp_fingerprint fingerprint;
		enum sdp_setup setup;
		struct sdp_rtpmap rtpmap;
		struct sdp_fmtp fmtp;
		struct sdp_rtcp_fb rtcp_fb;
		struct sdp_rtcp rtcp;
		enum sdp_direction direction;
		struct sdp_candidate candidate;
		struct sdp_ssrc ssrc;
		struct sdp_ssrc_group ssrc_group;
		struct sdp_msid msid;
		struct sdp_extmap extmap;
		uint32_t ms; /* ptime, maxptime (whole milliseconds) */
	} u;
};

/* c= (RFC 8866 §5.7); address may carry "/ttl[/count]" for multicast. */
struct sdp_connection {
	bool present;
	const char *nettype;  /* "IN" */
	const char *addrtype; /* "IP4", "IP6" */
	const char *address;
};

/* b= (RFC 8866 §5.8). */
struct sdp_bandwidth {
	const char *type; /* "AS", "CT", "TIAS" ... */
	uint64_t value;
};

/* A line kept as its text: i=, u=, e=, p=, z=, k=, r=. */
struct sdp_line {
	char type;
	const char *value;
};

struct sdp_time {
	uint64_t start, stop;
	struct sdp_line *repeats; /* r= lines after this t= */
	unsigned n_repeats;
};

struct sdp_media {
	const char *type; /* "audio", "video", "application" */
	uint16_t port;
	uint16_t port_count; /* 0 when the m= line gave none */
	const char *proto;   /* "RTP/AVP", "UDP/TLS/RTP/SAVPF" ... */
	const char **formats;
	unsigned n_formats;
	const char *info; /* i=, NULL when absent */
	struct sdp_connection conn;
	struct sdp_bandwidth *bandwidths;
	unsigned n_bandwidths;
	const char *key; /* k=, NULL when absent */
	struct sdp_attr *attrs;
	unsigned n_attrs;
	unsigned cap_attrs, cap_formats; /* private to sdp.c */
	uint32_t listed_pts[4];          /* private: payload types 0..127 on the m= line */
};

struct sdp_arena;

struct sdp_session {
	/* o= */
	const char *username;
	uint64_t sess_id;
	uint64_t sess_version;
	const char *nettype, *addrtype, *address;
	const char *name; /* s= as sent ("-" or " " when unnamed) */
	/* i= u= e= p= in order (each type grouped when printed, as RFC 8866 orders them) */
	struct sdp_line *lines;
	unsigned n_lines;
	struct sdp_connection conn;
	struct sdp_bandwidth *bandwidths;
	unsigned n_bandwidths;
	struct sdp_time *times;
	unsigned n_times;
	const char *zone; /* z=, NULL when absent */
	const char *key;  /* k=, NULL when absent */
	struct sdp_attr *attrs;
	unsigned n_attrs;
	struct sdp_media *media;
	unsigned n_media;
	unsigned cap_attrs, cap_media; /* private to sdp.c */
	struct sdp_arena *arena;
};

/* ---- parse, print, free ---- */

/* Parse text[0..len) into a new description at *out. Returns 0; or -EINVAL
 * with *err set (when err is not NULL) for text that is not a valid
 * description; -E2BIG for text beyond the limits above; -ENOMEM. Never reads
 * outside text; NUL bytes inside it are an error. */
int sdp_parse(const char *text, size_t len, struct sdp_session **out, struct sdp_error *err);

/* Write s as text with CRLF line endings in RFC 8866 order (v o s i u e p c b
 * t r z k a, then per section m i c b k a), NUL-terminated when size > 0.
 * Returns the length of the whole text (without the NUL), like snprintf: a
 * value >= size means buf was too small and holds a truncated prefix. */
size_t sdp_print(const struct sdp_session *s, char *buf, size_t size);
/* The text in a new malloc()ed, NUL-terminated buffer (length in *len when not
 * NULL), or NULL when out of memory. */
char *sdp_to_string(const struct sdp_session *s, size_t *len);

void sdp_free(struct sdp_session *s);

/* ---- looking things up ---- */

/* The first attribute of the kind (or, for SDP_ATTR_OTHER, of that name,
 * compared case-insensitively) at index >= *from in attrs; sets *from past
 * it so a loop finds them all. NULL when there are no more. */
const struct sdp_attr *sdp_attr_next(const struct sdp_attr *attrs, unsigned n_attrs,
                                     enum sdp_attr_kind kind, const char *name, unsigned *from);
const struct sdp_attr *sdp_session_attr(const struct sdp_session *s, enum sdp_attr_kind kind,
                                        const char *name);
const struct sdp_attr *sdp_media_attr(const struct sdp_media *m, enum sdp_attr_kind kind,
                                      const char *name);

/* A payload type with what the description says about it. */
struct sdp_codec {
	uint8_t pt;
	const char *encoding; /* from a=rtpmap, or the RFC 3551 name of a static pt */
	uint32_t clock;
	uint16_t channels; /* 0 when not given */
	const char *fmtp;  /* a=fmtp parameters, NULL when none */
};

/* The payload type at formats[idx] of an RTP media section as a codec, with a
 * static payload type's RFC 3551 name and clock when there is no rtpmap.
 * Returns 0, or -ENOENT when the format is not a payload type 0..127 or is a
 * dynamic one without an rtpmap. */
int sdp_media_codec_at(const struct sdp_media *m, unsigned idx, struct sdp_codec *out);
/* The first listed codec (in the m= line's order of preference) whose encoding
 * name matches case-insensitively and whose clock matches (any clock when
 * clock is 0). Returns 0 or -ENOENT. */
int sdp_media_find_codec(const struct sdp_media *m, const char *encoding, uint32_t clock,
                         struct sdp_codec *out);

/* The section's direction: its own attribute, else the session's, else
 * sendrecv (RFC 8866 §6.7). */
enum sdp_direction sdp_media_direction(const struct sdp_session *s, const struct sdp_media *m);
/* The connection that applies to m: its own c=, else the session's; NULL when
 * neither has one. */
const struct sdp_connection *sdp_media_connection(const struct sdp_session *s,
                                                  const struct sdp_media *m);
/* Whether the peer puts m on hold: the effective direction is sendonly or
 * inactive, or the effective connection address is 0.0.0.0 (RFC 2543 style,
 * still sent by older PBXs) in a section without ICE: with ICE ufrag/pwd,
 * c=0.0.0.0 only means no default candidate (Chrome sends it in every offer).
 * A section with port 0 is rejected, not held. */
bool sdp_media_on_hold(const struct sdp_session *s, const struct sdp_media *m);

const char *sdp_direction_name(enum sdp_direction dir);

/* ---- changing a description ---- */

/* Append an attribute (value NULL for a flag) to the session or to m, parsed
 * as the parser would. Returns 0; -EINVAL when a known attribute's value is
 * malformed or the name is not a token; -E2BIG past SDP_MAX_ATTRS; -ENOMEM. */
int sdp_session_add_attr(struct sdp_session *s, const char *name, const char *value);
int sdp_media_add_attr(struct sdp_session *s, struct sdp_media *m, const char *name,
                       const char *value);
/* Remove every attribute of the kind (or, for SDP_ATTR_OTHER, of that name)
 * from m. Returns how many were removed. */
unsigned sdp_media_remove_attrs(struct sdp_media *m, enum sdp_attr_kind kind, const char *name);

/* Set m's direction: its direction attribute is replaced in place, or one is
 * appended. Returns 0; -EINVAL (dir SDP_DIR_NONE); -E2BIG when one must be
 * appended to a section that holds SDP_MAX_ATTRS already; -ENOMEM. */
int sdp_media_set_direction(struct sdp_session *s, struct sdp_media *m, enum sdp_direction dir);

/* Append payload type pt to m's formats with an a=rtpmap (encoding/clock,
 * "/channels" when channels is not 0; no rtpmap when encoding is NULL) and an
 * a=fmtp when fmtp is not NULL. An rtpmap or fmtp already there for pt (one
 * for a payload type that was not listed) is removed first. Returns 0; -EEXIST
 * when pt is already listed; -EINVAL (pt > 127); -E2BIG; -ENOMEM. */
int sdp_media_add_format(struct sdp_session *s, struct sdp_media *m, uint8_t pt,
                         const char *encoding, uint32_t clock, uint16_t channels, const char *fmtp);
/* Remove format fmt ("8", "101") from m's m= line with the rtpmap, fmtp and
 * rtcp-fb attributes that name it. Returns 0; -ENOENT when not listed;
 * -EINVAL when it is the only format (an m= line needs one: to refuse a
 * section, answer it with port 0 instead). */
int sdp_media_remove_format(struct sdp_media *m, const char *fmt);

/* Add one to the origin's version: RFC 3264 §8 asks for it once in each new
 * offer or answer that differs from the previous one. */
void sdp_bump_version(struct sdp_session *s);

/* A copy of str that lives as long as s, or NULL when out of memory. */
const char *sdp_strdup(struct sdp_session *s, const char *str);
/* Set the c= line of m (of the session when m is NULL) to "IN IP4 address",
 * or IP6 when address has a ':'. Returns 0, -EINVAL (empty, or a character no
 * address or host name has), -ENOMEM. */
int sdp_set_connection(struct sdp_session *s, struct sdp_media *m, const char *address);

/* What sdp_new_audio() builds. */
struct sdp_audio_params {
	uint64_t sess_id;             /* o= session id; the version starts at 1 */
	const char *address;          /* this end's address: IPv4 or IPv6 (has a ':') */
	uint16_t port;                /* the RTP port */
	bool pcmu, pcma;              /* offer PCMU (0) and/or PCMA (8), in that order */
	int telephone_event;          /* its payload type (101 usually), -1 for none */
	uint32_t ptime;               /* ms; 0 for no a=ptime */
	enum sdp_direction direction; /* SDP_DIR_NONE for no attribute */
};

/* A minimal plain RTP/AVP description for the PBX side:
 *   v=0 / o=sipwire <id> 1 IN IP4 <addr> / s=sipwire / c=IN IP4 <addr> / t=0 0 /
 *   m=audio <port> RTP/AVP 0 8 101 / a=rtpmap... / a=fmtp:101 0-16 /
 *   a=ptime:20 / a=sendrecv
 * Returns 0 with *out set, -EINVAL (no address, no codec), or -ENOMEM. */
int sdp_new_audio(const struct sdp_audio_params *p, struct sdp_session **out);

#endif
