// `sandbox doctor`: what this machine allows, and how to fix what the sandbox needs.
export { diagnose } from './diagnose.js';
export { formatReport } from './format.js';
export { realSystem } from './system.js';
export type { FileStat, ProbeResult, System } from './system.js';
export type {
  CgroupFacts,
  CgroupMode,
  CgroupV1Controller,
  Check,
  CheckStatus,
  ContainerFacts,
  DoctorReport,
  Enforcement,
} from './types.js';
