# syntax=docker/dockerfile:1
# One image for `tote controller`, `tote worker` and `tote agent`.
#   docker build -t <registry>/tote:<version> .
# glibc (Debian), not Alpine: @temporalio/core-bridge ships a glibc native module.

# ---- build: compile TypeScript (and regenerate proto/gen, as `npm run build` does) with dev dependencies
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# ---- deps: production dependencies only, in a clean tree (no compilers, linters, test tools)
FROM node:20-bookworm-slim AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
RUN chmod 0755 bin/tote.js && ln -s /app/bin/tote.js /usr/local/bin/tote
# The node image's unprivileged "node" user, by number so Kubernetes can verify runAsNonRoot.
# The agent overrides this to uid 0 in the chart: containerd's socket is root:root 0660 (docs/security.md).
USER 1000:1000
ENTRYPOINT ["node", "bin/tote.js"]
