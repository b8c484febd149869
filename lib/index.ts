// The package's public surface.
export { Sandbox } from './sandbox.js';
export type { SandboxProcess } from './sandbox.js';
export { SandboxError } from './errors.js';
export type { SandboxErrorInit } from './errors.js';
export type {
  BindMount,
  HostUser,
  OutputOption,
  RunOptions,
  SandboxOptions,
  SeccompOption,
  StdinOption,
  TmpfsMount,
  Ulimit,
} from './options.js';
export type { AppliedLimits, Enforcement, FigureSources, LimitFallback, Outcome, RunResult } from './result.js';
export { diagnose, formatReport } from './doctor/index.js';
export type { CgroupFacts, CgroupMode, CgroupV1Controller, Check, CheckStatus, ContainerFacts, DoctorReport } from './doctor/index.js';
export {
  flattenImage,
  importImage,
  inspectImage,
  listImages,
  pruneImages,
  pullImage,
  removeImage,
  resolveImage,
} from './image/index.js';
export type {
  ImageDetails,
  ImageProgress,
  ImageRunConfig,
  ImageSummary,
  ImportOptions,
  ImportResult,
  PruneResult,
  PullOptions,
  PullResult,
  RemoveResult,
  ResolvedImage,
  StoreOptions,
} from './image/index.js';
export { FileStore, JobRunner, parseRequest, runJob } from './job/index.js';
export type {
  Cmd,
  CmdFile,
  FileError,
  JobRequest,
  JobResult,
  JobRunnerOptions,
  PipeMap,
  RunJobOptions,
  SandboxExtension,
  Status,
} from './job/index.js';
export { JudgeServer } from './serve/index.js';
export type { ServeOptions } from './serve/index.js';
export type { Collector, FileErrorType, InputFile, LocalFile, MemoryFile, PipeIndex, PreparedFile, Symlink } from './job/types.js';
export type { FileStoreOptions } from './job/file-store.js';
export type { Metrics } from './serve/metrics.js';
export type { LayerRecord } from './image/record.js';
export type { ProgressFn } from './image/progress.js';
export type { ImportFormat } from './image/import.js';
export type { CgroupVia } from './cgroup/types.js';
