// One live view of the signed-in user's jobs for every screen: the all-jobs socket's snapshots (polling each
// running job while the socket is down), the jobs the user is watching (kept across reloads), and a notice when
// one of the user's own jobs ends.
import { App as AntApp } from "antd";
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore, type ReactNode } from "react";
import { getJob, isClosed, type JobSnapshot } from "./api/jobs";
import { LiveSocket, type LiveState } from "./api/live";
import type { User } from "./api/session";
import { useI18n } from "./i18n";
import type { MessageKey } from "./i18n/en";
import { useJobTypeName } from "./components/JobTypeName";

const POLL_MS = 2000;
const WATCHED_KEY = "longrun.watching";

type Listener = () => void;

class SnapshotStore {
  private snapshots = new Map<string, JobSnapshot>();
  private listeners = new Set<Listener>();
  private version = 0;

  subscribe = (listener: Listener) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };
  getVersion = () => this.version;
  get(jobId: string): JobSnapshot | undefined {
    return this.snapshots.get(jobId);
  }
  running(): string[] {
    return [...this.snapshots.values()].filter((s) => !isClosed(s.status)).map((s) => s.job_id);
  }
  /** An answer older than the snapshot held: a read sent before the socket pushed the job's end, arriving after. */
  isStale(snap: JobSnapshot): boolean {
    const held = this.snapshots.get(snap.job_id);
    if (!held) return false;
    if (isClosed(held.status) && !isClosed(snap.status)) return true;
    const heldAt = Date.parse(held.updated_at ?? ""), snapAt = Date.parse(snap.updated_at ?? "");
    return heldAt > snapAt;
  }
  /** The previous snapshot, so a caller can tell an ending from a repeat. */
  put(snap: JobSnapshot): JobSnapshot | undefined {
    const before = this.snapshots.get(snap.job_id);
    this.snapshots.set(snap.job_id, snap);
    this.version += 1;
    this.listeners.forEach((listener) => listener());
    return before;
  }
}

interface JobsLive {
  state: LiveState;
  store: SnapshotStore;
  watching: string[];
  watch: (jobId: string) => void;
  unwatch: (jobId: string) => void;
  /** Read a job now (after starting one, or opening its details) and keep it in the store. */
  track: (jobId: string) => Promise<JobSnapshot>;
}

const Context = createContext<JobsLive | null>(null);

function readWatched(): string[] {
  try {
    const value = JSON.parse(localStorage.getItem(WATCHED_KEY) ?? "[]");
    return Array.isArray(value) ? value.filter((item) => typeof item === "string").slice(0, 50) : [];
  } catch {
    return [];
  }
}

const NOTICE: Partial<Record<JobSnapshot["status"], MessageKey>> = {
  completed: "jobs.noticeCompleted",
  failed: "jobs.noticeFailed",
  cancelled: "jobs.noticeCancelled",
};

export function JobsLiveProvider({ user, children }: { user: User; children: ReactNode }) {
  const { notification } = AntApp.useApp();
  const { t } = useI18n();
  const store = useMemo(() => new SnapshotStore(), []);
  const [state, setState] = useState<LiveState>("connecting");
  const [watching, setWatching] = useState<string[]>(readWatched);
  const announced = useRef(new Set<string>());
  const typeName = useJobTypeName();
  const tRef = useRef({ t, typeName });
  tRef.current = { t, typeName };

  const accept = useCallback(
    (snap: JobSnapshot) => {
      if (store.isStale(snap)) return;
      const before = store.put(snap);
      const ended = isClosed(snap.status) && before !== undefined && !isClosed(before.status);
      if (ended && snap.owner === user.username && !announced.current.has(snap.job_id)) {
        announced.current.add(snap.job_id);
        const key = NOTICE[snap.status];
        if (key) {
          const open = snap.status === "completed" ? notification.success : notification.error;
          open({
            message: tRef.current.t(key, { type: tRef.current.typeName(snap.type), jobId: snap.job_id }),
            description: snap.status === "failed" ? snap.message || snap.errors.at(-1)?.error : undefined,
            placement: "bottomRight",
          });
        }
      }
    },
    [store, user.username, notification],
  );

  useEffect(() => {
    const socket = new LiveSocket(
      "/api/v1/ws/jobs",
      (data) => {
        if (data && typeof data === "object" && "job_id" in data) accept(data as JobSnapshot);
      },
      setState,
    );
    return () => socket.close();
  }, [accept]);

  // While the socket is down, running jobs (and watched ones) are asked about directly.
  useEffect(() => {
    if (state === "live") return;
    const timer = setInterval(() => {
      const ids = new Set([...store.running(), ...watching.filter((id) => !isClosed(store.get(id)?.status ?? "running"))]);
      ids.forEach((id) => getJob(id).then(accept, () => {}));
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [state, store, watching, accept]);

  const track = useCallback(async (jobId: string) => {
    const snap = await getJob(jobId);
    accept(snap);
    return snap;
  }, [accept]);

  const watch = useCallback((jobId: string) => {
    setWatching((now) => {
      const next = [jobId, ...now.filter((id) => id !== jobId)].slice(0, 50);
      localStorage.setItem(WATCHED_KEY, JSON.stringify(next));
      return next;
    });
    track(jobId).catch(() => {});
  }, [track]);

  const unwatch = useCallback((jobId: string) => {
    setWatching((now) => {
      const next = now.filter((id) => id !== jobId);
      localStorage.setItem(WATCHED_KEY, JSON.stringify(next));
      return next;
    });
  }, []);

  // Watched jobs come back after a reload with their current state.
  useEffect(() => {
    readWatched().forEach((id) => track(id).catch(() => {}));
  }, [track]);

  const value = useMemo(() => ({ state, store, watching, watch, unwatch, track }), [state, store, watching, watch, unwatch, track]);
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useJobsLive(): JobsLive {
  const value = useContext(Context);
  if (!value) throw new Error("useJobsLive outside JobsLiveProvider");
  return value;
}

/** A job's newest snapshot, re-rendering when it changes. */
export function useSnapshot(jobId: string | null | undefined): JobSnapshot | undefined {
  const { store } = useJobsLive();
  useSyncExternalStore(store.subscribe, store.getVersion);
  return jobId ? store.get(jobId) : undefined;
}
