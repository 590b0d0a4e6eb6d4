// While a discovery runs, its drafts and the sources' last runs are read again this often.
export const LIVE_MS = 2000;
