export { COMMON_ANY_STRING, COMMON_BAD_VALUES } from './config-cases.ts';
export { repoRoot } from './paths.ts';
export { type RedisOptions, type RedisServer, startRedis } from './redis.ts';
export { type Service, type ServiceOptions, startService } from './service.ts';
export { getFreePort, waitFor, waitForHttp } from './wait.ts';
