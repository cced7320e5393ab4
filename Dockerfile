# Image for the webhook and the worker (docker-compose.yml runs `crtrail up --webhook-only|--worker-only`).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
COPY services ./services
# tools/ is in the lock file and the build; the image never loads it (`up --webhook-only|--worker-only`).
COPY tools ./tools
RUN npm ci --no-audit --no-fund && npx tsc --build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
USER node
EXPOSE 8080 9464
ENTRYPOINT ["node", "services/cli/bin/crtrail.js"]
