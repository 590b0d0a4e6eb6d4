// What makes the WebBuddy screen live: each open query's job snapshot (the all-jobs socket) says when its stage
// moves or a log is written; then the rows and logs are read again, without waiting for the next poll.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { queryJobId } from "@/api/webbuddy";
import { useJobsLive } from "@/jobsLive";

// Polled anyway while something is open: a query an external worker claimed has no job to tell us.
export const OPEN_POLL_MS = 3000;

export function useRereadOnProgress(queryIds: number[]): void {
  const { store } = useJobsLive();
  const queryClient = useQueryClient();
  const seen = useRef(new Map<string, string>());
  const key = queryIds.join(",");
  useEffect(() => {
    const jobIds = key ? key.split(",").map((id) => queryJobId(Number(id))) : [];
    const check = (announce: boolean) => {
      let moved = false;
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
  }, [key, store, queryClient]);
}
