// The job model and runner: go-judge's /run without HTTP (docs/serve.md).
export { FileStore, type FileStoreOptions } from './file-store.js';
export { parseRequest } from './parse.js';
export { JobRunner, runJob, type JobRunnerOptions, type RunJobOptions } from './run-job.js';
export type * from './types.js';
