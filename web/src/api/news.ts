// The news discovery API (docs/news.md, api/routes/news.py): sources, starting a discovery, drafts.
import { del, get, patch, post } from "./client";
import type { JobStarted } from "./jobs";

export const DISCOVERY_JOB = "news_discovery";

export interface SourceLastRun {
  job_id: string;
  finished_at: string;
  entries: number | null;
  drafts: number | null;
  error: string | null;
}

export interface Source {
  id: number;
  name: string;
  feed_url: string;
  topic: string;
  active: boolean;
  created_at: string;
  last_run: SourceLastRun | null;
}

export interface SourceIn {
  name: string;
  feed_url: string;
  topic: string;
  active: boolean;
}

export type DraftStatus = "draft" | "published" | "rejected";
export const DRAFT_STATUSES: DraftStatus[] = ["draft", "published", "rejected"];

export interface Draft {
  id: number;
  source_id: number;
  source_name: string;
  run_id: string | null;
  url: string;
  title: string;
  summary: string;
  status: DraftStatus;
  published_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface DraftFilter {
  source_id?: number;
  since?: string;
  status?: DraftStatus;
  run_id?: string;
  limit: number;
  offset: number;
}

const BASE = "/api/v1/news";

export const listSources = () => get<Source[]>(`${BASE}/sources`);
export const createSource = (body: SourceIn) => post<Source>(`${BASE}/sources`, body);
export const updateSource = (id: number, body: Partial<SourceIn>) => patch<Source>(`${BASE}/sources/${id}`, body);
export const deleteSource = (id: number) => del(`${BASE}/sources/${id}`);

/** No source ids: every active source. */
export const discover = (sourceIds: number[] | null, maxParallel: number) =>
  post<JobStarted>(`${BASE}/discover`, { source_ids: sourceIds, max_parallel: maxParallel });

export const listDrafts = (filter: DraftFilter) => get<{ items: Draft[]; total: number }>(`${BASE}/drafts`, { ...filter });
export const editDraft = (id: number, body: { title?: string; summary?: string }) => patch<Draft>(`${BASE}/drafts/${id}`, body);
export const publishDraft = (id: number) => post<Draft>(`${BASE}/drafts/${id}/publish`);
export const rejectDraft = (id: number) => post<Draft>(`${BASE}/drafts/${id}/reject`);
