/* media_meter — how the media benchmarks (bench_media against sipwire,
 * bench_rtpengine against rtpengine) measure a media relay, shared so that
 * both figures mean the same thing:
 *
 *  - per call and audio packet index, four time stamps: sent by the caller's
 *    end, received by the far end (the kernel's receive time, SO_TIMESTAMPNS),
 *    sent back by the far end, back at the caller byte for byte;
 *  - the far end itself: one UDP socket (and one for RTCP above it) that
 *    sends every RTP packet back where it came from, as sipp's -rtp_echo does,
 *    stamping arrivals; it finds the call by the tag at the start of the
 *    payload (MEDIA_METER_TAG_LEN bytes, then the packet index, big endian);
 *  - one measurement window: the relay's CPU (its threads' on-CPU time from
 *    /proc/PID/task/ * /schedstat), how busy its core and ours were, the
 *    machine's UDP receive-buffer drops, its memory (RSS, PSS);
 *  - the window's packets: lost, late, latency percentiles; one summary and
 *    one RESULT line per step, the same fields for both tools.
 *
 * Time stamps are µs since the run's start plus one (0: not yet), written by
 * the threads that see the packets and read by the measuring thread
 * (relaxed atomics). */
#ifndef SIPWIRE_BENCH_MEDIA_METER_H
#define SIPWIRE_BENCH_MEDIA_METER_H

#include <stdbool.h>
#include <stdint.h>

#include "ws_client.h"

#define MEDIA_METER_TAG_LEN     8
#define MEDIA_METER_PACKETS_S   50 /* 20 ms G.711 */
/* Both tools send each call's packets at its times to this precision, each
 * call a fixed fraction of a millisecond off the others: independent
 * browsers do not send in step, and a relay fed whole-millisecond bursts
 * would show the bursts' queueing in its latency. */
#define MEDIA_METER_SLOT_US     100
#define MEDIA_METER_LATE_ONE_US 20000
#define MEDIA_METER_LATE_RTT_US 40000

/* One call's stamps; the tool embeds it in its call. */
struct meter_call {
	uint64_t tag; /* the payload's first 8 bytes, as memcpy reads them */
	uint32_t *t_sent, *t_rx, *t_tx, *t_back;
	unsigned eval_next; /* measuring thread: first index not yet evaluated */
};

struct meter_options {
	const char *host;    /* of the far end's socket */
	unsigned echo_port;  /* 0: no far end (calls measured round trip only) */
	int server_pid;      /* the relay, 0: not measured */
	int server_core;     /* the core it is pinned to, -1 */
	const char *workers; /* its media threads' name prefix ("media") */
	const char *server;  /* its name in the summary lines ("daemon") */
	double window_s, grace_s;
};

struct meter_echo;

struct meter {
	struct meter_options o;
	uint64_t t0_ns;
	unsigned packets; /* per call */
	/* calls[i] is the tool's i-th call; steps measure the first n */
	struct meter_call **calls;
	unsigned n_calls;
	struct meter_echo *echo;
};

/* The run starts now; each of n_calls calls has room for packets stamps.
 * The tool points m->calls[i] at its calls and fills their tags, then calls
 * meter_call_alloc for each. 0 or -ENOMEM. */
int meter_init(struct meter *m, const struct meter_options *o, unsigned n_calls,
               unsigned packets);
int meter_call_alloc(struct meter *m, struct meter_call *c);
/* Stops the echo and frees every call's stamps: after the tool's threads
 * that stamp have stopped. */
void meter_free(struct meter *m);

uint32_t meter_stamp_of(const struct meter *m, uint64_t mono_ns);
uint32_t meter_stamp(const struct meter *m);
/* The tag at the start of a payload, as meter_call.tag holds it. */
uint64_t meter_tag_key(const uint8_t *p);
/* Writes the payload the far end recognises: tag, index, then filler
 * that depends on both (len >= MEDIA_METER_TAG_LEN + 4). */
void meter_payload(uint8_t *p, size_t len, const uint8_t tag[MEDIA_METER_TAG_LEN],
                   uint32_t index);
/* Reads tag and index back; false when the payload is too short. */
bool meter_payload_index(const uint8_t *p, size_t len, uint64_t *tag, uint32_t *index);

/* The far end on o.echo_port (and the port above for RTCP), on a thread of
 * its own; every call's tag must be set. 0 or a negative errno. */
int meter_echo_start(struct meter *m);
struct meter_echo_counts {
	uint64_t rx, tx, unknown, rtcp_rx;
	uint64_t drops; /* its socket's overflow count (SO_RXQ_OVFL) */
};
void meter_echo_counts(const struct meter *m, struct meter_echo_counts *out);
void meter_echo_stop(struct meter *m); /* no-op when not started */

/* Machine-wide UDP receive-buffer drops (/proc/net/snmp Udp: RcvbufErrors). */
uint64_t meter_udp_rcvbuf_errors(void);

/* ---- one step ---- */

struct meter_lat {
	struct wsc_latency l;
	uint64_t late;
};

struct meter_step {
	unsigned n, up, failed; /* up and failed: filled by the tool */
	double window_s;
	uint64_t sent, up_arrived, up_lost, down_lost, back, relayed;
	struct meter_lat up_lat, down_lat, rtt;
	double cpu_all_us, cpu_media_us;
	unsigned threads;
	double server_core_busy, load_core_busy, load_cpu_us;
	uint64_t rss_kib, pss_kib;
	uint64_t rcvbuf_errors, pbx_drops;
	bool ran_out;
	uint32_t w0, w1; /* the window, in stamps */
};

/* Sleeps through a window of o.window_s with n calls up, reading the relay's
 * CPU and both cores around it, then waits o.grace_s for the window's last
 * packets and reads the drops and the relay's memory. */
void meter_window(struct meter *m, unsigned n, struct meter_step *r);
/* The packets the first r->n calls sent in the window: lost, late, latency. */
void meter_evaluate(struct meter *m, struct meter_step *r);
/* The step's lines: a summary and "RESULT label=LABEL target=bridged|echo ...". */
void meter_print_step(const struct meter *m, const char *label, struct meter_step *r);
void meter_step_free(struct meter_step *r);
/* Whether a printed step (meter_print_step sorts its samples) passes: every
 * call up, packets sent, none lost, and the latency the relay adds under
 * p99_ms at the 99th percentile — one way to the far end when there is one,
 * else round trip. The largest passing count is the benchmarks' figure. */
bool meter_step_passes(const struct meter *m, const struct meter_step *r, double p99_ms);
/* The RESULT memory=1 line of a step: (at the step - idle) / calls up. */
void meter_print_memory(const char *label, const struct meter_step *r,
                        const struct wsc_proc_usage *idle);

/* --steps: call counts separated by commas or blanks, each rising, none 0 or
 * over limit, at most max of them, into steps[]. 0 with *n set; -EINVAL. */
int meter_parse_steps(const char *text, unsigned limit, unsigned *steps, unsigned max,
                      unsigned *n);

/* Sleep s seconds (nothing when s <= 0), through signals. */
void meter_sleep(double s);
/* Packets each call may send over a whole ramp: every step's setup (at
 * setup_rate new calls a second), settling, window and grace, with room; a
 * call that runs out stops sending. */
unsigned meter_plan_packets(const unsigned *steps, unsigned n, double setup_rate, double settle_s,
                            double window_s, double grace_s);

#endif
