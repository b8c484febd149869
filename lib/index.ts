// The package's public surface.
export { Sandbox } from './sandbox.js';
export type { SandboxProcess } from './sandbox.js';
export { SandboxError } from './errors.js';
export type { BindMount, OutputOption, RunOptions, SandboxOptions, SeccompOption, StdinOption, TmpfsMount } from './options.js';
export type { AppliedLimits, Enforcement, FigureSources, Outcome, RunResult } from './result.js';
export type { ImageRunConfig, ResolvedImage } from './image/types.js';
