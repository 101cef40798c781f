// Tokenize on BullMQ (Redis): enqueue one job per input shard, run workers, read the queue's status.

export { hasRedisServer, type LocalRedis, startLocalRedis } from './local-redis.js';
export {
  type EnqueueOptions,
  type EnqueueResult,
  enqueueTokenize,
  followQueue,
  type QueueStatus,
  queueStatus,
} from './queue.js';
export { runTokenizeWorker, type WorkerEvent, type WorkerOptions, type WorkerSummary } from './worker.js';
