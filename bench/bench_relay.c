/* bench_relay.c — CPU per packet of the plain-RTP relay (webrtc/sdh_rtp).
 *
 * A child process runs the relay: N calls, each two handlers bridged, on one
 * GMainContext. The parent plays both peers of every call on loopback, each
 * sending one 20 ms G.711 packet (172 bytes) every 20 ms, and reads what comes
 * out of the other side. At the end the child reports its own CPU time, so
 * the figure is the relay's alone (syscalls included), not the load tool's.
 *
 *   bench_relay [--calls N] [--seconds S] [--port-base P] [--quick]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <glib.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "webrtc/sdh_rtp.h"

struct child_report {
	double cpu_s;
	uint64_t relayed, dropped;
	int error;
};

static int udp_bound(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return -1;
	int big = 1 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	socklen_t l = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &l);
	*port = ntohs(a.sin_port);
	return fd;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static gboolean on_stop(gint fd, GIOCondition c, gpointer data)
{
	*(bool *)data = true;
	return G_SOURCE_REMOVE;
}

/* The relay: legs answered to the peers' offers, bridged in pairs; leg ports
 * go to the parent over out_fd, then it runs until stop_fd is readable. */
static int run_relay(unsigned calls, const uint16_t *peer_ports, uint16_t port_base, int out_fd,
                     int stop_fd)
{
	GMainContext *loop = g_main_context_new();
	struct sdh_rtp_ctx_params p = {
		.loop = loop,
		.address = "127.0.0.1",
		.bind_address = "127.0.0.1",
		.port_min = port_base,
		.port_max = (uint16_t)(port_base + calls * 4 + 63), /* room to skip taken ports */
	};
	struct sdh_rtp_ctx *ctx;
	struct child_report rep = {0};
	if ((rep.error = sdh_rtp_ctx_new(&p, &ctx)) != 0)
		goto out;
	struct sdh_rtp **legs = calloc(2 * calls, sizeof(*legs));
	for (unsigned i = 0; i < 2 * calls; i++) {
		if ((rep.error = sdh_rtp_new(ctx, NULL, &legs[i])) != 0)
			goto out;
		char offer[256], answer[1024];
		int n = snprintf(offer, sizeof(offer),
		                 "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
		                 "t=0 0\r\nm=audio %u RTP/AVP 0\r\n",
		                 peer_ports[i]);
		size_t len;
		if ((rep.error = sdh_rtp_set_description(legs[i], "application/sdp", offer, (size_t)n,
		                                         NULL)) != 0 ||
		    (rep.error = sdh_rtp_get_description(legs[i], NULL, answer, sizeof(answer), &len,
		                                         NULL)) != 0)
			goto out;
		uint16_t port = sdh_rtp_port(legs[i]);
		if (write(out_fd, &port, sizeof(port)) != sizeof(port))
			goto out;
		if (i & 1)
			sdh_rtp_bridge(legs[i - 1], legs[i]);
	}
	bool stop = false;
	GSource *s = g_unix_fd_source_new(stop_fd, G_IO_IN | G_IO_HUP);
	g_source_set_callback(s, G_SOURCE_FUNC(on_stop), &stop, NULL);
	g_source_attach(s, loop);
	g_source_unref(s);
	double cpu0 = cpu_seconds();
	while (!stop)
		g_main_context_iteration(loop, TRUE);
	rep.cpu_s = cpu_seconds() - cpu0;
	for (unsigned i = 0; i < 2 * calls; i++) {
		struct sdh_rtp_stats st;
		sdh_rtp_get_stats(legs[i], &st);
		rep.relayed += st.tx_packets;
		rep.dropped += st.dropped;
		sdh_rtp_free(legs[i]);
	}
	free(legs);
	sdh_rtp_ctx_unref(ctx);
out:
	if (write(out_fd, &rep, sizeof(rep)) != sizeof(rep))
		return 1;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

int main(int argc, char **argv)
{
	unsigned calls = 200, seconds = 10;
	uint16_t port_base = 20000; /* below Linux's ephemeral ports */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			calls = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--port-base") && i + 1 < argc)
			port_base = (uint16_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--quick")) {
			calls = 10;
			seconds = 1;
		} else {
			fprintf(stderr, "usage: %s [--calls N] [--seconds S] [--port-base P] [--quick]\n",
			        argv[0]);
			return 2;
		}
	}
	if (calls == 0 || calls > 4000 || seconds == 0)
		return 2;
	unsigned n_peers = 2 * calls;
	int *peer = calloc(n_peers, sizeof(*peer));
	uint16_t *peer_port = calloc(n_peers, sizeof(*peer_port));
	uint16_t *leg_port = calloc(n_peers, sizeof(*leg_port));
	for (unsigned i = 0; i < n_peers; i++)
		if ((peer[i] = udp_bound(&peer_port[i])) < 0) {
			perror("peer socket");
			return 1;
		}
	int up[2], stop[2];
	if (pipe(up) != 0 || pipe(stop) != 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		close(up[0]);
		close(stop[1]);
		_exit(run_relay(calls, peer_port, port_base, up[1], stop[0]));
	}
	close(up[1]);
	close(stop[0]);
	for (unsigned i = 0; i < n_peers; i++)
		if (!read_all(up[0], &leg_port[i], sizeof(leg_port[i]))) {
			fprintf(stderr, "relay setup failed\n");
			return 1;
		}

	uint8_t pkt[172] = {0x80, 0x00};
	uint8_t in[2048];
	uint64_t sent = 0, received = 0;
	double start = now_s(), next = start;
	uint16_t seq = 0;
	while (now_s() - start < seconds) {
		seq++;
		pkt[2] = (uint8_t)(seq >> 8);
		pkt[3] = (uint8_t)seq;
		for (unsigned i = 0; i < n_peers; i++) {
			pkt[11] = (uint8_t)i; /* ssrc per peer */
			struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(leg_port[i])};
			inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
			if (sendto(peer[i], pkt, sizeof(pkt), 0, (struct sockaddr *)&a, sizeof(a)) > 0)
				sent++;
		}
		next += 0.020;
		/* drain while waiting for the next 20 ms tick */
		do {
			for (unsigned i = 0; i < n_peers; i++)
				while (recv(peer[i], in, sizeof(in), MSG_DONTWAIT) > 0)
					received++;
			double wait = next - now_s();
			if (wait > 0.002)
				g_usleep(1000);
		} while (now_s() < next);
	}
	g_usleep(50000);
	for (unsigned i = 0; i < n_peers; i++)
		while (recv(peer[i], in, sizeof(in), MSG_DONTWAIT) > 0)
			received++;
	close(stop[1]);
	struct child_report rep;
	if (!read_all(up[0], &rep, sizeof(rep)) || rep.error) {
		fprintf(stderr, "relay failed: %d\n", rep.error);
		return 1;
	}
	waitpid(pid, NULL, 0);
	double elapsed = now_s() - start;
	printf("calls %u  seconds %.1f  packets sent %llu  relayed %llu  received %llu  lost %.3f%%\n",
	       calls, elapsed, (unsigned long long)sent, (unsigned long long)rep.relayed,
	       (unsigned long long)received, sent ? 100.0 * (double)(sent - received) / (double)sent : 0.0);
	printf("relay CPU %.3f s (%.1f%% of one core)  %.2f us per relayed packet\n", rep.cpu_s,
	       100.0 * rep.cpu_s / elapsed, rep.relayed ? rep.cpu_s * 1e6 / (double)rep.relayed : 0.0);
	for (unsigned i = 0; i < n_peers; i++)
		close(peer[i]);
	free(peer);
	free(peer_port);
	free(leg_port);
	return received > 0 ? 0 : 1;
}
