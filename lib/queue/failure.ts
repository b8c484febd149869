// A job's failure as it crosses Redis: BullMQ keeps only a message (failedReason), so the stage of
// the SandboxError travels in it as "[stage] message" and comes back as a typed error.
import { SandboxError } from '../errors.js';

const SHAPE = /^\[([a-z-]+)\] ([\s\S]*)$/;

/** The failedReason a worker fails a job with. */
export function encodeFailure(e: unknown): string {
  if (e instanceof SandboxError) return `[${e.stage}] ${e.message}`;
  return `[worker] ${e instanceof Error ? e.message : String(e)}`;
}

/** A job that ended failed, as the client reports it. */
export class QueueJobError extends SandboxError {
  override name = 'QueueJobError';
  readonly jobId: string;
  /** Failed starts of the job (its attempts, used up; 1 for a job that is never retried). */
  readonly attemptsMade: number;

  constructor(jobId: string, failedReason: string, attemptsMade: number) {
    const m = SHAPE.exec(failedReason);
    super(`job ${jobId} failed after ${attemptsMade} attempt${attemptsMade === 1 ? '' : 's'}: ${m ? m[2] : failedReason}`, {
      stage: m ? m[1]! : 'worker',
    });
    this.jobId = jobId;
    this.attemptsMade = attemptsMade;
  }
}
