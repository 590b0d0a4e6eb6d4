// WebBuddy's endpoints (api/routes/webbuddy.py, docs/webbuddy.md): its own shapes, kept for its Django site and
// external workers. A query is answered by the job `webbuddy-query-{id}`, whose snapshot carries the stage.
import { get, post } from "./client";

export type QueryStatus = "queued" | "in_progress" | "done" | "failed";
export const QUERY_STATUSES: QueryStatus[] = ["queued", "in_progress", "done", "failed"];
export const isOpenQuery = (status: QueryStatus) => status === "queued" || status === "in_progress";

export interface Project {
  id: number;
  name: string;
  owner: number;
  created_at: string;
}

export interface WebBuddyQuery {
  id: number;
  project: number;
  user: number;
  query_text: string;
  status: QueryStatus;
  answer_text: string | null;
  error: string | null;
  query_created: string;
  query_started: string | null;
  query_finished: string | null;
}

export interface QueryLog {
  id: number;
  project: number;
  query: number;
  log_data: string;
  created_at: string;
}

export interface QueryFilter {
  project?: number;
  status?: QueryStatus;
  limit: number;
  offset: number;
}

export const queryJobId = (queryId: number) => `webbuddy-query-${queryId}`;

export const listProjects = () => get<Project[]>("/api/projects/");
export const createProject = (name: string) => post<Project>("/api/projects/", { name });
// Newest first: the API's own order (oldest first) is what WebBuddy's clients expect.
export const listQueries = (filter: QueryFilter) => get<WebBuddyQuery[]>("/api/queries/", { ...filter, ordering: "-id" });
export const getQuery = (id: number) => get<WebBuddyQuery>(`/api/queries/${id}/`);
export const askQuery = (project: number, queryText: string) =>
  post<WebBuddyQuery>("/api/queries/", { project, query_text: queryText });
export const listLogs = (queryId: number) => get<QueryLog[]>("/api/logs/", { query: queryId });
