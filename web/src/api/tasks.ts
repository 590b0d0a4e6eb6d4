// The 1C front end's tasks module, with its exports and signatures as its components call them
// (`getTaskStatus`, `listTasks`, `cancelTask`, `startAsyncBankTransactionsSync`, `TaskWebSocket`), against
// Longrun's `/api/v1/tasks` and `WS /api/v1/ws/tasks/{id}` (api/routes/tasks.py, docs/1c.md). Two differences the
// caller never sees: the token goes as the socket's first message (never in its URL), and a refused token is
// refreshed once.
import { get, post } from "./client";
import { LiveSocket } from "./live";

/** The five statuses the 1C components know: a paused, cancelling or retrying job is `running`, and `message`
 * says which. */
export type TaskStatus = "pending" | "running" | "completed" | "failed" | "cancelled";

export const TASK_STATUSES: TaskStatus[] = ["pending", "running", "completed", "failed", "cancelled"];
export const FINISHED: ReadonlySet<TaskStatus> = new Set(["completed", "failed", "cancelled"]);

export interface TaskInfo {
  task_id: string;
  task_type: string;
  status: TaskStatus;
  /** Percent, 0–100. */
  progress: number;
  total: number;
  processed: number;
  message: string;
  created_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  result: Record<string, unknown> | null;
  error: string | null;
  // Longrun's additions (older 1C code ignores them).
  retrying?: boolean;
  attempt?: number | null;
  last_error?: string | null;
  phase?: string | null;
  phase_processed?: number | null;
  phase_total?: number | null;
}

export interface TaskListResponse {
  tasks: TaskInfo[];
  total: number;
}

export interface BankTransactionsSyncRequest {
  date_from: string;
  date_to: string;
  auto_classify?: boolean;
}

export interface AsyncSyncResponse {
  task_id: string;
  /** A sync of this kind was already running: this is that one (its period may differ). */
  joined?: boolean;
  running_input?: Record<string, unknown> | null;
  running_since?: string | null;
}

const taskPath = (taskId: string) => `/api/v1/tasks/${encodeURIComponent(taskId)}`;

export const getTaskStatus = (taskId: string): Promise<TaskInfo> => get<TaskInfo>(taskPath(taskId));

export const listTasks = (taskType?: string, limit = 20): Promise<TaskListResponse> =>
  get<TaskListResponse>("/api/v1/tasks", { task_type: taskType, limit });

export const cancelTask = (taskId: string): Promise<TaskInfo> => post<TaskInfo>(`${taskPath(taskId)}/cancel`);

export const startAsyncBankTransactionsSync = (request: BankTransactionsSyncRequest): Promise<AsyncSyncResponse> =>
  post<AsyncSyncResponse>("/api/v1/sync-1c/bank-transactions/sync-async", {
    date_from: request.date_from,
    date_to: request.date_to,
    auto_classify: request.auto_classify ?? false,
  });

export const startAsyncContractorsSync = (): Promise<AsyncSyncResponse> =>
  post<AsyncSyncResponse>("/api/v1/sync-1c/contractors/sync-async");

const isTask = (data: unknown): data is TaskInfo =>
  !!data && typeof data === "object" && "task_id" in data && "status" in data;

// The server closes a task's socket when the task ends (1000), or 4404 when there is no such task of the caller's.
const ENDS_ON = (code: number) => code === 1000 || code === 4404;

/** One task's updates as they happen: `onUpdate` with each, `onError` when the socket fails (the caller then
 * polls `getTaskStatus`). The socket reconnects by itself while the task runs; `disconnect()` stops it. */
export class TaskWebSocket {
  private socket: LiveSocket | null = null;

  constructor(
    private readonly taskId: string,
    private readonly onUpdate: (task: TaskInfo) => void,
    private readonly onError?: (error: Event | Error) => void,
  ) {}

  connect(): void {
    if (this.socket) return;
    let closedFor404 = false;
    this.socket = new LiveSocket(
      `/api/v1/ws/tasks/${encodeURIComponent(this.taskId)}`,
      (data) => {
        if (isTask(data)) this.onUpdate(data);
      },
      (state) => {
        if (state === "down" && !closedFor404) this.onError?.(new Error("task socket down"));
      },
      (code) => {
        if (code === 4404) {
          closedFor404 = true;
          this.onError?.(new Error(`task ${this.taskId} not found`));
        }
        return ENDS_ON(code);
      },
    );
  }

  disconnect(): void {
    this.socket?.close();
    this.socket = null;
  }

  get connected(): boolean {
    return this.socket !== null;
  }
}
