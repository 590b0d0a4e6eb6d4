// The 1C books as the API serves them (api/routes/onec.py, docs/1c.md): transactions, contractors, rules, the last
// syncs and the schedules. Starting a sync and following it is the 1C front end's own module: ./tasks.ts.
import { del, get, patch, post, api } from "./client";

export type Direction = "incoming" | "outgoing";
export type CategorySource = "rule" | "llm" | "manual";

export interface Transaction {
  ref_key: string;
  direction: Direction;
  number: string;
  date: string;
  posted: boolean;
  amount: string | number;
  contractor_key: string | null;
  purpose: string;
  operation: string;
  deleted: boolean;
  category: string | null;
  category_source: CategorySource | null;
  contractor_name: string | null;
  contractor_inn: string | null;
}

export interface TransactionFilter {
  date_from?: string;
  date_to?: string;
  contractor?: string;
  category?: string;
  direction?: Direction;
  limit: number;
  offset: number;
}

export interface Contractor {
  ref_key: string;
  code: string;
  name: string;
  full_name: string;
  inn: string;
  kpp: string;
  is_folder: boolean;
  parent_key: string | null;
  deleted: boolean;
}

export interface Page<T> {
  items: T[];
  total: number;
}

export interface Rule {
  id: number;
  category: string;
  priority: number;
  contractor_key: string | null;
  inn: string | null;
  purpose_contains: string | null;
  operation: string | null;
  direction: Direction | null;
  active: boolean;
}

export type RuleIn = Omit<Rule, "id">;

export type SyncKindName = "bank-transactions" | "contractors";

export interface SyncCounts {
  loaded: number;
  created: number;
  updated: number;
  skipped: number;
  deleted: number;
  failed: number;
  classified: number;
  classified_by_rule: number;
  classified_by_llm: number;
}

export interface LastSync {
  status: "completed" | "failed" | "cancelled";
  started_at: string | null;
  finished_at: string | null;
  date_from: string | null;
  date_to: string | null;
  counts: SyncCounts | null;
  error: string | null;
}

export interface SyncKind {
  kind: SyncKindName;
  job_id: string;
  running: boolean;
  last: LastSync | null;
}

export interface Schedule {
  name: SyncKindName;
  schedule_id: string;
  paused: boolean;
  note: string;
  next_runs: string[];
  last_run: string | null;
}

const BASE = "/api/v1/sync-1c";
/** The `category` filter's value for transactions without one. */
export const UNCLASSIFIED = "unclassified";

export const listTransactions = (filter: TransactionFilter) =>
  get<Page<Transaction>>(`${BASE}/bank-transactions`, { ...filter });
export const setCategory = (refKey: string, category: string | null) =>
  patch<Transaction>(`${BASE}/bank-transactions/${encodeURIComponent(refKey)}`, { category });
export const listCategories = () => get<{ categories: string[] }>(`${BASE}/categories`);
export const listContractors = (q: string | undefined, limit: number, offset: number) =>
  get<Page<Contractor>>(`${BASE}/contractors`, { q: q?.trim() || undefined, limit, offset });

export const listRules = () => get<Rule[]>(`${BASE}/rules`);
export const createRule = (rule: RuleIn) => post<Rule>(`${BASE}/rules`, rule);
export const updateRule = (id: number, changes: Partial<RuleIn>) => patch<Rule>(`${BASE}/rules/${id}`, changes);
export const orderRules = (ruleIds: number[]) => api<Rule[]>("PUT", `${BASE}/rules/order`, { rule_ids: ruleIds });
export const deleteRule = (id: number) => del(`${BASE}/rules/${id}`);

export const lastSyncs = () => get<SyncKind[]>(`${BASE}/last-syncs`);
export const listSchedules = () => get<Schedule[]>(`${BASE}/schedules`);
export const pauseSchedule = (name: SyncKindName, pause: boolean) =>
  post<Schedule>(`${BASE}/schedules/${name}/${pause ? "pause" : "unpause"}`);
