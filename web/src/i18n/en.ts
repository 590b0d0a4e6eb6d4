// The English catalog: every string the page shows. ru.ts and uk.ts must have every key (the type checker says
// which is missing). `{name}` is filled in by t(key, {name: ...}). Keys are grouped per screen; add a screen's
// strings inside its own group.
export const en = {
  // ---- the shell
  "app.title": "Longrun",
  "app.signedInAs": "{username} · {role}",
  "app.signOut": "Sign out",
  "app.language": "Language",
  "app.temporalUi": "Temporal Web UI",
  "app.offline": "Cannot reach the Longrun server. Check your connection and try again.",
  "app.serverError": "The server had a problem ({status}). Try again shortly.",
  "app.sessionExpired": "Your session has expired. Please sign in again.",
  "app.loading": "Loading…",
  "app.refresh": "Refresh",
  "app.save": "Save",
  "app.cancel": "Cancel",
  "app.close": "Close",
  "app.delete": "Delete",
  "app.edit": "Edit",
  "app.add": "Add",
  "app.confirm": "Are you sure?",
  "app.yes": "Yes",
  "app.no": "No",
  "app.all": "All",
  "app.none": "—",
  "app.notAllowed": "The {role} role cannot do this.",
  "live.live": "live",
  "live.connecting": "connecting…",
  "live.down": "polling · reconnecting",
  "nav.jobs": "Jobs",
  "nav.news": "News",
  "nav.webbuddy": "WebBuddy",
  "nav.crossposting": "Crossposting",
  "nav.onec": "1C",
  "nav.tracker": "Tracker",

  // ---- sign in
  "signIn.title": "Sign in to Longrun",
  "signIn.username": "Username",
  "signIn.password": "Password",
  "signIn.submit": "Sign in",
  "signIn.required": "Enter your username and password.",

  // ---- jobs
  "jobs.title": "Jobs",
  "jobs.type": "Type",
  "jobs.status": "Status",
  "jobs.owner": "Owner",
  "jobs.started": "Started",
  "jobs.closed": "Closed",
  "jobs.progress": "Progress",
  "jobs.eta": "ETA",
  "jobs.actions": "Actions",
  "jobs.details": "Details",
  "jobs.cancel": "Cancel",
  "jobs.cancelConfirm": "Cancel this job? Work already done is kept.",
  "jobs.cancelled": "Cancel requested",
  "jobs.rerun": "Run again",
  "jobs.rerunStarted": "Started again as {jobId}",
  "jobs.cancelMany": "Cancel all matching",
  "jobs.cancelManyConfirm": "Cancel every running job that matches the filter?",
  "jobs.cancelManyDone": "{count} jobs asked to cancel",
  "jobs.allTypes": "All types",
  "jobs.allStatuses": "All statuses",
  "jobs.empty": "No jobs yet.",
  "jobs.retrying": "retrying {step}: attempt {attempt}",
  "jobs.lastError": "Last error",
  "jobs.errors": "Errors",
  "jobs.message": "Message",
  "jobs.result": "Result",
  "jobs.counts": "{processed} of {total} · {succeeded} ok · {skipped} skipped · {failed} failed",
  "jobs.openInTemporal": "Open in Temporal",
  "jobs.watching": "Watching",
  "jobs.noticeCompleted": "{type} finished: {jobId}",
  "jobs.noticeFailed": "{type} failed: {jobId}",
  "jobs.noticeCancelled": "{type} cancelled: {jobId}",
  "jobs.services": "Services",
  "jobs.serviceHealth": "Health",
  "status.pending": "pending",
  "status.running": "running",
  "status.paused": "paused",
  "status.cancelling": "cancelling",
  "status.retrying": "retrying",
  "status.completed": "completed",
  "status.failed": "failed",
  "status.cancelled": "cancelled",

  // ---- news

  // ---- webbuddy

  // ---- crossposting

  // ---- 1C

  // ---- tracker
  "tracker.tab.messages": "Messages",
  "tracker.tab.knowledge": "Topics and atoms",
  "tracker.tab.search": "Search",
  "tracker.tab.ingestion": "Ingestion",
  "tracker.tab.analysis": "Analysis",
  "tracker.tab.experiments": "Experiments",
  "tracker.tab.settings": "Agents and providers",
} as const;

export type MessageKey = keyof typeof en;
export type Catalog = Record<MessageKey, string>;
