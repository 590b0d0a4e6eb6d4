// Outside text (feed entries, posts, chat messages, 1C fields, job errors) is only ever a React text child, never
// markup: nothing in this code base sets innerHTML. A link to outside content is made only by OutsideLink, which
// accepts http(s) URLs alone; anything else (javascript:, data:, a relative path) shows as plain text.
import type { ReactNode } from "react";

export function safeUrl(url: unknown): string | null {
  if (typeof url !== "string") return null;
  const text = url.trim();
  if (!/^https?:\/\//i.test(text)) return null;
  try {
    const parsed = new URL(text);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

export function OutsideLink({ url, children }: { url: unknown; children?: ReactNode }) {
  const href = safeUrl(url);
  const label = children ?? (typeof url === "string" ? url : "");
  if (!href) return <span className="not-a-link">{label}</span>;
  return (
    <a href={href} target="_blank" rel="noopener noreferrer nofollow">
      {label}
    </a>
  );
}
