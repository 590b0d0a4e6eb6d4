// The tracker's analysis runs, proposals, experiments, agent configs and LLM providers (docs/tracker.md,
// api/routes/tracker_analysis.py, tracker_agents.py, tracker_providers.py, tracker_extraction.py).
import { del, get, patch, post } from "@/api/client";
import type { JobStarted, JobStatus } from "@/api/jobs";

export type RecordStatus = "pending" | "running" | "completed" | "failed" | "cancelled";
export type ProposalStatus = "pending" | "approved" | "rejected";
export const PROPOSAL_STATUSES: ProposalStatus[] = ["pending", "approved", "rejected"];
export type AgentRole = "knowledge_extractor" | "proposal_generator" | "topic_classifier";
export const AGENT_ROLES: AgentRole[] = ["knowledge_extractor", "proposal_generator", "topic_classifier"];
export type ProviderKind = "openai" | "ollama";

export interface Started {
  id: number;
  job_id: string;
}

export interface Proposal {
  id: number;
  analysis_run_id: number;
  batch_index: number;
  position: number;
  title: string;
  description: string;
  priority: string | null;
  confidence: number;
  source_message_ids: number[];
  status: ProposalStatus;
  created_at: string;
}

export interface Run {
  id: number;
  job_id: string | null;
  status: RecordStatus;
  agent_config_id: number | null;
  time_window_start: string;
  time_window_end: string;
  use_rag: boolean;
  batch_size: number;
  messages_total: number;
  messages_after_filter: number;
  batches_total: number;
  batches_completed: number;
  proposals_total: number;
  error_log: { batch?: number | null; error?: string }[] | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
}

export interface RunStart {
  time_window_start: string;
  time_window_end: string;
  use_rag: boolean;
  batch_size: number;
  agent_config_id?: number | null;
}

export interface Experiment {
  id: number;
  job_id: string | null;
  status: RecordStatus;
  agent_config_id: number | null;
  message_count: number;
  telegram_chat_id: number | null;
  classified: number;
  correct: number;
  accuracy: number | null;
  confusion_matrix: Record<string, Record<string, number>> | null;
  error_message: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
}

export interface ExperimentStart {
  message_count: number;
  agent_config_id?: number | null;
  telegram_chat_id?: number | null;
}

export interface SourceMessage {
  id: number;
  telegram_chat_id: number;
  text: string;
  sent_at: string;
  noise_class: string | null;
}

export interface Agent {
  id: number;
  name: string;
  role: AgentRole;
  provider_id: number | null;
  model: string;
  system_prompt: string;
  temperature: number | null;
  active: boolean;
  created_at: string;
  updated_at: string;
}
export type AgentIn = Omit<Agent, "id" | "created_at" | "updated_at">;

export interface Provider {
  id: number;
  name: string;
  kind: ProviderKind;
  base_url: string;
  api_key_env: string | null;
  chat_model: string;
  embedding_model: string;
  embedding_dimension: number;
  active: boolean;
  created_at: string;
}
export type ProviderIn = Omit<Provider, "id" | "created_at" | "embedding_dimension">;

export const recordClosed = (status: RecordStatus | JobStatus) => ["completed", "failed", "cancelled"].includes(status);

export const listRuns = () => get<Run[]>("/api/v1/runs", { limit: 50 });
export const getRun = (id: number) => get<Run>(`/api/v1/runs/${id}`);
export const startRun = (body: RunStart) => post<Started>("/api/v1/runs", body);
export const cancelRun = (id: number) => post(`/api/v1/runs/${id}/cancel`);
// The API's own cap on one page of proposals.
export const PROPOSALS_PAGE = 500;
export const listProposals = (runId: number, status?: ProposalStatus) =>
  get<Proposal[]>("/api/v1/proposals", { run_id: runId, status, limit: PROPOSALS_PAGE });
export const reviewProposal = (id: number, status: ProposalStatus) => patch<Proposal>(`/api/v1/proposals/${id}`, { status });
export const getMessage = (id: number) => get<SourceMessage>(`/api/v1/messages/${id}`);

export const listExperiments = () => get<Experiment[]>("/api/v1/experiments", { limit: 50 });
export const getExperiment = (id: number) => get<Experiment>(`/api/v1/experiments/${id}`);
export const startExperiment = (body: ExperimentStart) => post<Started>("/api/v1/experiments", body);
export const cancelExperiment = (id: number) => post(`/api/v1/experiments/${id}/cancel`);

export const startExtraction = (body: { telegram_chat_id: number; since?: string; until?: string }) =>
  post<JobStarted>("/api/v1/extraction", body);

export const listAgents = (role?: AgentRole) => get<Agent[]>("/api/v1/agents", { role });
export const createAgent = (body: AgentIn) => post<Agent>("/api/v1/agents", body);
export const updateAgent = (id: number, body: Partial<AgentIn>) => patch<Agent>(`/api/v1/agents/${id}`, body);
export const deleteAgent = (id: number) => del(`/api/v1/agents/${id}`);

export const listProviders = () => get<Provider[]>("/api/v1/providers");
export const createProvider = (body: ProviderIn) => post<Provider>("/api/v1/providers", body);
export const updateProvider = (id: number, body: Partial<ProviderIn>) => patch<Provider>(`/api/v1/providers/${id}`, body);
export const deleteProvider = (id: number) => del(`/api/v1/providers/${id}`);
