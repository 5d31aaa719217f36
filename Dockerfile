# sipwire in a container: WebRTC browsers on one side, a PBX on the other.
# docs/deploy.md says how to run it (docker run, compose with Asterisk);
# tests/docker/run builds this file unchanged and calls through the image.

# Build stage: the compiler and the -dev packages, libsrtp2 built against
# OpenSSL from Debian's source package, and SIP.js for the softphone page
# (npm ci in web-demo/, as its lock file pins it), all by scripts/bootstrap
# --build, the script a developer's machine runs (one list of packages, one
# recipe). Only what it reads is copied first, so a change to the sources
# does not run it again.
FROM docker.io/library/debian:bookworm-slim AS build
WORKDIR /src
COPY scripts/bootstrap scripts/bootstrap
COPY web-demo/package.json web-demo/package-lock.json web-demo/.npmrc web-demo/
RUN scripts/bootstrap --build && rm -rf /var/lib/apt/lists/* .deps/apt
COPY . .
# libwebsockets loads its libuv event loop as a plugin (dlopen: not in ldd),
# so libwebsockets-evlib-uv is named on its own.
# The softphone's folder in the image is sipwire's default demo.dir.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIPWIRE_WERROR=ON \
		-DSIPWIRE_TESTS=OFF -DSIPWIRE_BENCH=OFF \
		-DSIPWIRE_DEMO_DIR=/usr/share/sipwire/web-demo >/dev/null \
	&& cmake --build build -j"$(nproc)" --target sipwire \
	&& install -D -s build/sipwire /out/usr/local/bin/sipwire \
	&& docker/runtime-packages /out/usr/local/bin/sipwire >/out/runtime-packages \
	&& echo libwebsockets-evlib-uv >>/out/runtime-packages

# Runtime stage: the libraries the binary loads (found by ldd in the build
# stage), CA certificates for TLS toward a PBX, openssl for the health check
# over WSS; no compiler, no -dev package.
FROM docker.io/library/debian:bookworm-slim
COPY --from=build /out/runtime-packages /usr/share/sipwire/runtime-packages
RUN apt-get update \
	&& DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		$(cat /usr/share/sipwire/runtime-packages) ca-certificates openssl \
	&& rm -rf /var/lib/apt/lists/* \
	&& groupadd --system --gid 10001 sipwire \
	&& useradd --system --uid 10001 --gid sipwire --home-dir /var/lib/sipwire \
		--no-create-home --shell /usr/sbin/nologin sipwire \
	&& install -d -o sipwire -g sipwire -m 0700 /var/lib/sipwire \
	&& install -d -m 0755 /etc/sipwire/certs
COPY --from=build /out/usr/local/bin/sipwire /usr/local/bin/sipwire
# The browser softphone sipwire serves at / on its WS and WSS ports, with
# SIP.js in its node_modules.
COPY --from=build /src/web-demo /usr/share/sipwire/web-demo
COPY docker/entrypoint /usr/local/bin/sipwire-entrypoint
COPY docker/healthcheck /usr/local/bin/sipwire-healthcheck
COPY docker/sipwire.json /etc/sipwire/sipwire.json
# Every missing library would show here rather than at the first start.
RUN ! ldd /usr/local/bin/sipwire | grep -F 'not found' \
	&& /usr/local/bin/sipwire --version

# The image's configuration file listens on every address (sipwire's own
# default, 127.0.0.1, suits a laptop, not a container), keeps its state in
# the volume and narrows the RTP ports to 20000-20999 so they can be
# published. Replace the file (mount yours over it, or name another with
# SIPWIRE_CONFIG), or override any key with SIPWIRE_* variables or flags:
# docs/configuration.md.
ENV SIPWIRE_CONFIG=/etc/sipwire/sipwire.json
# The self-signed certificate (made when none is mounted in
# /etc/sipwire/certs) and whatever else sipwire keeps.
VOLUME /var/lib/sipwire
# WS (development), WSS (browsers), SIP over UDP and TCP, SIP over TLS (on
# when a certificate is given), RTP/ICE media.
EXPOSE 8080/tcp 8443/tcp 5060/udp 5060/tcp 5061/tcp 20000-20999/udp
USER sipwire:sipwire
WORKDIR /var/lib/sipwire
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
	CMD ["/usr/local/bin/sipwire-healthcheck"]
ENTRYPOINT ["/usr/local/bin/sipwire-entrypoint"]
CMD []
