// What makes the WebBuddy screen live: each open query's job snapshot (the all-jobs socket) says when its stage
// moves or a log is written; then the rows and logs are read again, without waiting for the next poll.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { queryJobId } from "@/api/webbuddy";
import { useJobsLive } from "@/jobsLive";

// Polled anyway while something is open: a query an external worker claimed has no job to tell us.
export const OPEN_POLL_MS = 3000;
// And now and then when nothing is: a query asked on WebBuddy's own site, or left queued for the sweep, has no job
// yet either.
export const IDLE_POLL_MS = 10000;

const QUERY_JOB = /^webbuddy-query-(\d+)$/;

/** Read the rows again when an open query's job moves on, or (with `listed`) when a query's job starts that the
 * list does not show yet (asked in another tab). */
export function useRereadOnProgress(queryIds: number[], listed?: number[]): void {
  const { store } = useJobsLive();
  const queryClient = useQueryClient();
  const seen = useRef(new Map<string, string>());
  const unknown = useRef(new Set<string>());
  const key = queryIds.join(",");
  const listedKey = listed?.join(",");
  useEffect(() => {
    const jobIds = key ? key.split(",").map((id) => queryJobId(Number(id))) : [];
    const shown = listedKey === undefined ? null : new Set(listedKey.split(",").filter(Boolean).map(Number));
    const check = (announce: boolean) => {
      let moved = false;
      if (shown) {
        for (const jobId of store.running()) {
          const match = QUERY_JOB.exec(jobId);
          if (!match || shown.has(Number(match[1])) || unknown.current.has(jobId)) continue;
          unknown.current.add(jobId);
          moved = true;
        }
      }
      for (const jobId of jobIds) {
        const snap = store.get(jobId);
        if (!snap) continue;
        const signature = `${snap.status}|${String(snap.details.stage ?? "")}|${String(snap.details.logs_written ?? 0)}`;
        if (seen.current.get(jobId) !== signature) {
          seen.current.set(jobId, signature);
          moved = true;
        }
      }
      if (moved && announce) queryClient.invalidateQueries({ queryKey: ["webbuddy"] });
    };
    check(false);
    return store.subscribe(() => check(true));
  }, [key, listedKey, store, queryClient]);
}
