/* udp_window.h — a block of UDP ports on 127.0.0.1 for one test process.
 *
 * The unit tests that bind media sockets take their ports in 10000-19999:
 * below the integration tests' ports (20000-32299), their daemons' RTP
 * (33000 and up), the benchmarks' and Linux's ephemeral ports. Each process
 * starts its search at a place of its own (its pid times salt), so test
 * processes running side by side rarely meet, and moves on past a block where
 * any port is taken. Header-only: included by the test files that need it. */
#ifndef SIPWIRE_TESTS_UDP_WINDOW_H
#define SIPWIRE_TESTS_UDP_WINDOW_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#define UDP_WINDOW_FIRST 10000u
#define UDP_WINDOW_SPAN  10000u

/* Is every UDP port of [base, base + size) on 127.0.0.1 free right now? */
static inline bool udp_window_free(uint16_t base, unsigned size)
{
	for (unsigned p = base; p < base + size; p++) {
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
		if (fd >= 0)
			close(fd);
		if (!ok)
			return false;
	}
	return true;
}

/* The first port of size free ports in a row. */
static inline uint16_t udp_window_pick(unsigned size, unsigned salt)
{
	unsigned blocks = UDP_WINDOW_SPAN / size;
	unsigned start = ((unsigned)getpid() * salt) % blocks;
	for (unsigned k = 0; k < blocks; k++) {
		uint16_t base = (uint16_t)(UDP_WINDOW_FIRST + ((start + k) % blocks) * size);
		if (udp_window_free(base, size))
			return base;
	}
	cr_assert_fail("no %u free UDP ports in a row between 10000 and 19999", size);
	return 0;
}

#endif
