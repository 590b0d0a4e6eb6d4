import { useI18n } from "@/i18n";
import type { MessageKey } from "@/i18n/en";
import { en } from "@/i18n/en";

/** A job type in the reader's words (news_discovery → "News discovery"); an unknown type as the API names it. */
export function useJobTypeName(): (type: string | null | undefined) => string {
  const { t } = useI18n();
  return (type) => {
    if (!type) return "—";
    const key = `jobType.${type}`;
    return key in en ? t(key as MessageKey) : type;
  };
}
