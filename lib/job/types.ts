// The job model: go-judge's `/run` request and response (docs/serve.md), shared by `sandbox serve`,
// runJob() and queue workers. Field names, units (nanoseconds, bytes) and status strings are
// go-judge's; what is ours lives under `image` (per command) and `sandbox` (per result).
import type { AppliedLimits, Enforcement, FigureSources, Outcome } from '../result.js';

/** A file from the host, under a directory the operator allows (`--src-prefix`). */
export interface LocalFile {
  src: string;
}
/** Inline contents. */
export interface MemoryFile {
  content: string;
}
/** A file of the file store (`POST /file`, or `copyOutCached` of an earlier command). */
export interface PreparedFile {
  fileId: string;
}
/** Output collected into a file named `name` (a key of `copyOut`), at most `max` bytes. */
export interface Collector {
  name: string;
  max: number;
  pipe?: boolean;
}
/** A symbolic link in the working directory (copyIn only). */
export interface Symlink {
  symlink: string;
}

export type InputFile = LocalFile | MemoryFile | PreparedFile;
/** fds 0, 1 and 2 of a command; null: the end of a pipe named in pipeMapping. */
export type CmdFile = InputFile | Collector | null;

export interface Cmd {
  args: string[];
  /** "KEY=VALUE" strings. */
  env?: string[];
  files?: CmdFile[];
  tty?: boolean;
  /** CPU time, ns. */
  cpuLimit?: number;
  /** Wall-clock time, ns (realCpuLimit is its older name). */
  clockLimit?: number;
  realCpuLimit?: number;
  /** Bytes. */
  memoryLimit?: number;
  stackLimit?: number;
  procLimit?: number;
  /** 1000 = one CPU. */
  cpuRateLimit?: number;
  cpuSetLimit?: string;
  strictMemoryLimit?: boolean;
  dataSegmentLimit?: boolean;
  addressSpaceLimit?: boolean;
  copyIn?: Record<string, InputFile | Symlink>;
  /** Names in the working directory (or collectors); a trailing '?' makes one optional. */
  copyOut?: string[];
  copyOutCached?: string[];
  copyOutMax?: number;
  copyOutTruncate?: boolean;
  copyOutDir?: string;
  /** Extension: run in this image's root (when the Sandbox supports images). */
  image?: string;
}

export interface PipeIndex {
  index: number;
  fd: number;
}
export interface PipeMap {
  in: PipeIndex;
  out: PipeIndex;
  proxy?: boolean;
  /** With proxy: the bytes that went through are returned under this name, at most `max`. */
  name?: string;
  max?: number;
}

export interface JobRequest {
  requestId?: string;
  cmd: Cmd[];
  pipeMapping?: PipeMap[];
}

export type Status =
  | 'Accepted'
  | 'Memory Limit Exceeded'
  | 'Time Limit Exceeded'
  | 'Output Limit Exceeded'
  | 'File Error'
  | 'Nonzero Exit Status'
  | 'Signalled'
  | 'Dangerous Syscall'
  | 'Internal Error';

export type FileErrorType =
  | 'CopyInOpenFile'
  | 'CopyInCreateFile'
  | 'CopyInCopyContent'
  | 'CopyOutOpen'
  | 'CopyOutNotRegularFile'
  | 'CopyOutSizeExceeded'
  | 'CopyOutCreateFile'
  | 'CopyOutCopyContent'
  | 'CollectSizeExceeded';

export interface FileError {
  name: string;
  type: FileErrorType;
  message?: string;
}

/** What go-judge does not say about a run: ours, under one key so it never clashes. */
export interface SandboxExtension {
  /** The RunResult's verdict; null when the command did not run (File Error, Internal Error). */
  outcome: Outcome | null;
  enforcement: Enforcement | null;
  sources: FigureSources | null;
  limits: AppliedLimits | null;
  /** Limits asked for that nothing enforced (e.g. stackLimit, cpuSetLimit): never claimed as applied. */
  unenforced: string[];
  /** Whether the command ran on a warm sandbox. */
  warm: boolean;
}

export interface JobResult {
  status: Status;
  exitStatus: number;
  error?: string;
  /** CPU time, ns. */
  time: number;
  /** Peak memory, bytes. */
  memory: number;
  /** Wall-clock time, ns. */
  runTime: number;
  files?: Record<string, string>;
  fileIds?: Record<string, string>;
  fileError?: FileError[];
  sandbox: SandboxExtension;
}
