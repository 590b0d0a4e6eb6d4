// An answer is the LLM's text, outside text: shown as text, its line breaks kept. The links in it ([label](url) or a
// bare http(s) address) become links through OutsideLink; a link to anything else (javascript:, data:) stays the
// text it was written as, so the reader sees it and nothing runs.
import type { ReactNode } from "react";
import { OutsideLink, safeUrl } from "@/safe";

const LINKS = /\[([^\]\n]{1,500})\]\(([^)\s]{1,2000})\)|(https?:\/\/[^\s<>"'`)\]]+)/gi;

export function linkify(text: string): ReactNode[] {
  const parts: ReactNode[] = [];
  let last = 0;
  for (const match of text.matchAll(LINKS)) {
    const start = match.index ?? 0;
    if (start > last) parts.push(text.slice(last, start));
    const [whole, label, target, bare] = match;
    const url = bare ?? target;
    if (safeUrl(url)) parts.push(<OutsideLink key={start} url={url}>{label ?? bare}</OutsideLink>);
    else parts.push(whole);
    last = start + whole.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

export function AnswerText({ text }: { text: string }) {
  return (
    <div className="wrap-anywhere" style={{ whiteSpace: "pre-wrap" }} data-testid="webbuddy-answer">
      {linkify(text)}
    </div>
  );
}
