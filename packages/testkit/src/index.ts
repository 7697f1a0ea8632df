export { COMMON_ANY_STRING, COMMON_BAD_VALUES } from './config-cases.ts';
export {
  findNginx,
  ingressProxy,
  NGINX_STREAM_MODULE,
  type Nginx,
  type NginxOptions,
  nginxMain,
  nginxTempPaths,
  nginxVersion,
  startNginx,
} from './nginx.ts';
export { type NodeRuntime, type NodeRuntimeOptions, nodeRuntime, nodeRuntimeCacheDir } from './node-runtime.ts';
export { findOnPath, repoRoot, serviceScript, serviceScriptPath, type Tier } from './paths.ts';
export { getFreePort, portInUse } from './ports.ts';
export {
  killAll,
  type Output,
  type Proc,
  type ProcessOptions,
  type Readiness,
  type RunOptions,
  type RunResult,
  run,
  spawnProcess,
  startProcess,
} from './process.ts';
export { type RedisOptions, type RedisServer, startRedis } from './redis.ts';
export {
  type ClusterAcl,
  type ClusterNode,
  type ClusterNodeInfo,
  parseClusterNodes,
  type RedisCluster,
  type RedisClusterOptions,
  startRedisCluster,
} from './redis-cluster.ts';
export { type Service, type ServiceOptions, startService } from './service.ts';
export { waitFor, waitForHttp } from './wait.ts';
