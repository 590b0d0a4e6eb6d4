import { useCallback } from "react";
import { ApiError } from "./api/client";
import { useI18n } from "./i18n";

/** What to tell a person about a failed call: the API's own words for a 4xx, ours for the rest. */
export function useErrorText(): (error: unknown) => string {
  const { t } = useI18n();
  return useCallback(
    (error: unknown) => {
      if (error instanceof ApiError) {
        if (error.status === 0) return t("app.offline");
        if (error.status >= 500) return t("app.serverError", { status: error.status });
        if (error.message === "session expired") return t("app.sessionExpired");
      }
      return error instanceof Error ? error.message : String(error);
    },
    [t],
  );
}
