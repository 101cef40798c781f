// Tokenize on BullMQ (Redis): enqueue one job per input shard, run workers, read the queue's status.

export { hasRedisServer, type LocalRedis, startLocalRedis } from './local-redis.js';
export {
  DEFAULT_QUEUE_NAME,
  type EnqueueOptions,
  type EnqueueResult,
  enqueueTokenize,
  followQueue,
  type QueueDataset,
  type QueueStatus,
  type QueueTarget,
  queueStatus,
  type TokenizeJobData,
  type TokenizeJobResult,
} from './queue.js';
export { runTokenizeWorker, type WorkerEvent, type WorkerOptions, type WorkerSummary } from './worker.js';
