// The job protocol's shapes (api/jobs.py, workflows/base.py) and its routes.
import { get, post } from "./client";

export type JobStatus = "pending" | "running" | "paused" | "cancelling" | "completed" | "failed" | "cancelled";
export const TERMINAL: ReadonlySet<JobStatus> = new Set(["completed", "failed", "cancelled"]);
export const JOB_STATUSES: JobStatus[] = ["pending", "running", "paused", "cancelling", "completed", "failed", "cancelled"];

export interface Retrying {
  step: string;
  attempt: number;
  since: string | null;
  last_error: string;
  next_attempt_at: string | null;
}

export type JobKind = "job" | "service";

export interface JobSnapshot {
  job_id: string;
  kind?: JobKind;
  type: string;
  owner: string;
  status: JobStatus;
  total: number;
  processed: number;
  succeeded: number;
  skipped: number;
  failed: number;
  percent: number;
  message: string;
  current: string | null;
  errors: { item: string; error: string }[];
  started_at: string | null;
  updated_at: string | null;
  eta_seconds: number | null;
  details: Record<string, unknown>;
  result: Record<string, unknown> | null;
  retrying: Retrying | null;
}

export interface JobSummary {
  job_id: string;
  kind?: JobKind;
  type: string | null;
  owner: string | null;
  status: JobStatus;
  started_at: string | null;
  closed_at: string | null;
  // A closed job's counts, from its record; null while it runs (its snapshot has them live).
  total?: number | null;
  processed?: number | null;
  succeeded?: number | null;
  skipped?: number | null;
  failed?: number | null;
}

export interface JobStarted {
  job_id: string;
  joined: boolean;
  running_input: Record<string, unknown> | null;
  running_since: string | null;
}

export interface JobFilter {
  type?: string;
  status?: JobStatus;
  owner?: string;
  limit?: number;
}

/** A long-lived workflow that is not a job (the tracker's inbox drainer): its health, never a cancel. */
export interface ServiceHealth {
  type: string;
  job_id: string;
  does: string;
  running: boolean;
  status: JobStatus | null;
  message: string;
  started_at: string | null;
  last_activity_at: string | null;
  processed: number;
  failed: number;
  backlog: number | null;
  last_error: { item: string; error: string } | null;
  retrying: Retrying | null;
}

export const listJobs = (filter: JobFilter) => get<{ jobs: JobSummary[] }>("/api/v1/jobs", { ...filter });
export const getJob = (jobId: string) => get<JobSnapshot>(`/api/v1/jobs/${encodeURIComponent(jobId)}`);
export const cancelJob = (jobId: string, reason: string) =>
  post<{ job_id: string; status: JobStatus }>(`/api/v1/jobs/${encodeURIComponent(jobId)}/cancel`, { reason });

export const listServices = () => get<{ services: ServiceHealth[] }>("/api/v1/services");
export const rerunJob = (jobId: string) =>
  post<JobStarted & { rerun_of: string }>(`/api/v1/jobs/${encodeURIComponent(jobId)}/rerun`);
export const cancelMany = (filter: Omit<JobFilter, "limit">, reason: string) =>
  post<{ cancelled: number; job_ids: string[] }>("/api/v1/jobs/cancel", { ...filter, reason });

export const isClosed = (status: JobStatus) => TERMINAL.has(status);
