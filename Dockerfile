# sipscribe: the standalone appliance. Not built in CI (no Docker engine there); see README.
#
#   docker build -t sipscribe .
#   docker run --network host -e SIPSCRIBE_HTTP_TOKEN=change-me -v sipscribe-data:/data sipscribe
#
# Build stage: full toolchain (better-sqlite3 falls back to compiling when no prebuilt binary fits).
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY sip ./sip
COPY rtp ./rtp
COPY lib ./lib
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

# Runtime stage: same Debian release as the build stage, so the native module's glibc matches.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The live page's files are served from src/web (tsc does not copy them into dist/).
COPY --from=build /app/src/web ./src/web
COPY config.example.json ./
COPY docker/config.json /config/config.json
RUN mkdir -p /data && chown node:node /data
USER node
# Configuration (read-only) and data (SQLite, JSONL, recordings, TLS certificate) live in volumes.
VOLUME ["/config", "/data"]
# SIP (udp+tcp), SIP over TLS, HTTP (API, live page, metrics). RTP uses rtp.portMin..portMax/udp:
# publish that range too, or better run with --network host.
EXPOSE 5060/udp 5060/tcp 5061/tcp 8001/tcp
# /health is public (no token) and answers while the process is alive. Adjust the port if you
# change http.port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8001/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["--config", "/config/config.json"]
