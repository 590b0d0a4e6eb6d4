// The crossposting API (docs/crossposting.md, api/routes/crossposting.py): channels, links, migrations, the log.
import { del, get, patch, post } from "@/api/client";
import type { JobStarted } from "@/api/jobs";

export interface TelegramChannel {
  id: number;
  title: string;
  source: "pyrogram" | "export";
  chat: string | null;
  export_path: string | null;
  created_at: string;
}

export interface ExportSummary {
  channel_name: string;
  channel_type: string | null;
  message_count: number;
  first_date: string | null;
  last_date: string | null;
  media_files: number;
  media_not_included: number;
  unreadable: number;
}

export interface TelegramExport {
  name: string;
  export_path: string;
  size_bytes: number;
  modified_at: number;
  valid: boolean;
  problem: string | null;
  summary: ExportSummary | null;
}

export interface MaxChannel {
  id: number;
  title: string;
  chat_id: number;
  bot_token_hint: string;
  created_at: string;
}

export interface Link {
  id: number;
  telegram_channel_id: number;
  max_channel_id: number;
  active: boolean;
  created_at: string;
}

export type LogStatus = "pending" | "success" | "skipped" | "failed";
export const LOG_STATUSES: LogStatus[] = ["pending", "success", "skipped", "failed"];

export interface RateLimit {
  requests_per_second: number;
  chat_messages_per_second: number | null;
  headroom: number;
  messages_per_second: number;
}

export interface MigrationState {
  link_id: number;
  job_id: string;
  rate_limit: RateLimit;
  log: Record<LogStatus, number>;
  posts_published: number;
}

export interface LogRow {
  telegram_message_id: number;
  post_id: number;
  status: LogStatus;
  max_message_id: string | null;
  error: string | null;
  posted_at: string | null;
  send_started_at: string | null;
  sent_at: string | null;
  prepare_ms: number | null;
  send_ms: number | null;
  media_bytes: number | null;
  updated_at: string;
  text: string | null;
}

export interface MigrationStart {
  link_id: number;
  since?: string;
  until?: string;
  dry_run?: boolean;
}

const V1 = "/api/v1";

export const listTelegramChannels = () => get<TelegramChannel[]>(`${V1}/telegram-channels`);
export const createTelegramChannel = (body: Partial<TelegramChannel>) => post<TelegramChannel>(`${V1}/telegram-channels`, body);
export const updateTelegramChannel = (id: number, body: Partial<TelegramChannel>) => patch<TelegramChannel>(`${V1}/telegram-channels/${id}`, body);
export const deleteTelegramChannel = (id: number) => del(`${V1}/telegram-channels/${id}`);
export const listExports = () => get<TelegramExport[]>(`${V1}/telegram-exports`);

export const listMaxChannels = () => get<MaxChannel[]>(`${V1}/max-channels`);
export const createMaxChannel = (body: { title: string; chat_id: number; bot_token: string }) => post<MaxChannel>(`${V1}/max-channels`, body);
export const updateMaxChannel = (id: number, body: { title?: string; chat_id?: number; bot_token?: string }) => patch<MaxChannel>(`${V1}/max-channels/${id}`, body);
export const deleteMaxChannel = (id: number) => del(`${V1}/max-channels/${id}`);

export const listLinks = () => get<Link[]>(`${V1}/links`);
export const createLink = (body: { telegram_channel_id: number; max_channel_id: number; active?: boolean }) => post<Link>(`${V1}/links`, body);
export const updateLink = (id: number, body: { active: boolean }) => patch<Link>(`${V1}/links/${id}`, body);
export const deleteLink = (id: number) => del(`${V1}/links/${id}`);

export const startMigration = (body: MigrationStart) => post<JobStarted>(`${V1}/migrations`, body);
export const migrationState = (linkId: number) => get<MigrationState>(`${V1}/migrations/${linkId}`);
export const pauseMigration = (linkId: number) => post<{ job_id: string }>(`${V1}/migrations/${linkId}/pause`);
export const resumeMigration = (linkId: number) => post<{ job_id: string }>(`${V1}/migrations/${linkId}/resume`);
export const retryFailed = (linkId: number) => post<JobStarted>(`${V1}/migrations/${linkId}/retry-failed`);
export const messageLog = (linkId: number, status: LogStatus | undefined, limit: number, offset: number) =>
  get<{ items: LogRow[]; total: number }>(`${V1}/migrations/${linkId}/log`, { status, limit, offset });
