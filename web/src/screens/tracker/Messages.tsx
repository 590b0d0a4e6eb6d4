// The tracker's messages tab (web/src/screens/tracker/index.tsx): messages as they arrive, newest first, filtered by
// chat, noise class and topic on the server; each with its author (avatar, name, the Longrun user they are), score,
// noise class and why. New and edited messages come in over the events socket without a reload.
// Also here, for the other tabs of this screen: the one events socket (useTrackerEvents, mounted by the screen),
// which shows every *.failed event to staff as a notice, and the shapes and small pieces the tabs share.
import { useSearchParams } from "react-router-dom";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { App as AntApp, Avatar, Badge, Button, Descriptions, Empty, Select, Space, Table, Tag, Tooltip, Typography } from "antd";
import { useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { get, refreshAccess } from "@/api/client";
import { LiveSocket, type LiveState } from "@/api/live";
import { readSession, type User } from "@/api/session";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n, type Translate } from "@/i18n";
import type { MessageKey } from "@/i18n/en";
import { may } from "@/roles";

// ---- the API's shapes (api/routes/tracker_read.py)

export type NoiseClass = "noise" | "weak_signal" | "signal";
export const NOISE_CLASSES: NoiseClass[] = ["signal", "weak_signal", "noise"];

export interface TrackerMessage {
  id: number;
  telegram_chat_id: number;
  telegram_message_id: number;
  user_profile_id: number | null;
  text: string;
  sent_at: string;
  source: string;
  importance_score: number | null;
  noise_class: NoiseClass | null;
  noise_factors: Record<string, unknown> | null;
  scored_at: string | null;
  topic_id: number | null;
  extracted_at: string | null;
  edited_at: string | null;
  created_at: string;
}

export interface Profile {
  id: number;
  telegram_user_id: number;
  first_name: string;
  last_name: string | null;
  username: string | null;
  is_bot: boolean;
  avatar_path: string | null;
  linked_user: { id: number; username: string } | null;
}

export interface Topic {
  id: number;
  name: string;
  description: string;
  created_at: string;
  updated_at: string;
}

export interface Page<T> {
  items: T[];
  total: number;
}

interface Chat {
  telegram_chat_id: number;
  messages: number;
  last_sent_at: string;
}

// ---- the events socket (docs/events.md): one per tracker screen, shared by its tabs

export interface TrackerEvent {
  type: string;
  job_id: string | null;
  seq: number | null;
  owner: string | null;
  at: string;
  data: Record<string, unknown>;
}

type EventListener = (event: TrackerEvent) => void;
const eventListeners = new Set<EventListener>();
let socketState: LiveState = "connecting";
const stateListeners = new Set<() => void>();

function setSocketState(state: LiveState) {
  socketState = state;
  stateListeners.forEach((listener) => listener());
}

/** Hear the tracker's events while mounted (needs useTrackerEvents mounted above, by the screen). */
export function useTrackerEvent(listener: EventListener) {
  const ref = useRef(listener);
  ref.current = listener;
  useEffect(() => {
    const forward: EventListener = (event) => ref.current(event);
    eventListeners.add(forward);
    return () => {
      eventListeners.delete(forward);
    };
  }, []);
}

function useSocketState(): LiveState {
  return useSyncExternalStore(
    (listener) => {
      stateListeners.add(listener);
      return () => {
        stateListeners.delete(listener);
      };
    },
    () => socketState,
  );
}

const FAILED_TITLES: Record<string, MessageKey> = {
  "ingestion.failed": "tracker.failed.ingestion",
  "analysis.run_failed": "tracker.failed.analysis",
  "experiment_failed": "tracker.failed.experiment",
  "knowledge.extraction_failed": "tracker.failed.extraction",
};

export const isFailedEvent = (type: string) => type.endsWith(".failed") || type.endsWith("_failed");

/** The screen's events socket: every event to the tabs that listen, and every *.failed one to staff as a notice. */
export function useTrackerEvents(user: User) {
  const { notification } = AntApp.useApp();
  const { t } = useI18n();
  const tRef = useRef(t);
  tRef.current = t;
  const staff = may.runTracker(user.role);
  useEffect(() => {
    const seen = new Set<string>();
    const socket = new LiveSocket(
      "/api/v1/ws/events",
      (raw) => {
        if (!raw || typeof raw !== "object" || typeof (raw as { type?: unknown }).type !== "string") return;
        const event = { data: {}, ...(raw as object) } as TrackerEvent;
        if (event.type === "stream.ready" || event.type === "stream.resumed") return;
        eventListeners.forEach((listener) => listener(event));
        if (!staff || !isFailedEvent(event.type)) return;
        const key = `${event.type}:${event.job_id}:${event.seq}`;
        if (event.job_id && seen.has(key)) return;
        seen.add(key);
        const title = FAILED_TITLES[event.type];
        const error = typeof event.data.error === "string" ? event.data.error : "";
        notification.error({
          key,
          message: title ? tRef.current(title) : tRef.current("tracker.failed.other", { type: event.type }),
          // Outside words (a chat's name, a provider's error): text, never markup.
          description: (
            <span className="wrap-anywhere" data-testid="tracker-failed-notice" data-event={event.type}>
              {error || tRef.current("tracker.failed.noDetail")}
              {event.job_id && <Typography.Text type="secondary" className="mono"> · {event.job_id}</Typography.Text>}
            </span>
          ),
          placement: "bottomRight",
          duration: 0,
        });
      },
      setSocketState,
    );
    return () => socket.close();
  }, [staff, notification]);
}

export function EventsBadge() {
  const { t } = useI18n();
  const state = useSocketState();
  const color = state === "live" ? "green" : state === "connecting" ? "blue" : "orange";
  const key: MessageKey = state === "live" ? "tracker.events.live" : state === "connecting" ? "tracker.events.connecting" : "tracker.events.down";
  return <Badge color={color} text={t(key)} data-testid="tracker-events" data-state={state} />;
}

const THROTTLE_MS = 1000;
const CHATS_EVERY_MS = 10000;

/** Refetch what `keys` names at most once a second while events keep coming (a burst is one refetch, not 200). */
export function useThrottledInvalidate(keys: unknown[][], every: number = THROTTLE_MS) {
  const queryClient = useQueryClient();
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const keysRef = useRef(keys);
  keysRef.current = keys;
  useEffect(() => () => clearTimeout(timer.current), []);
  return () => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      keysRef.current.forEach((queryKey) => queryClient.invalidateQueries({ queryKey }));
    }, every);
  };
}

// ---- authors

/** An avatar is behind sign-in, and the page's images may only be its own or data: URLs: fetched with the token. */
async function fetchAvatar(profileId: number): Promise<string | null> {
  const request = () =>
    fetch(`/api/v1/profiles/${profileId}/avatar`, { headers: { Authorization: `Bearer ${readSession()?.access ?? ""}` } });
  let response = await request();
  if (response.status === 401) {
    await refreshAccess();
    response = await request();
  }
  if (!response.ok) return null;
  const blob = await response.blob();
  if (!blob.type.startsWith("image/")) return null;
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(typeof reader.result === "string" && reader.result.startsWith("data:image/") ? reader.result : null);
    reader.onerror = () => resolve(null);
    reader.readAsDataURL(blob);
  });
}

export function profileName(profile: Profile): string {
  return [profile.first_name, profile.last_name].filter(Boolean).join(" ") || (profile.username ? `@${profile.username}` : `#${profile.telegram_user_id}`);
}

export function AuthorAvatar({ profile, size = 32 }: { profile: Profile; size?: number }) {
  const avatar = useQuery({
    queryKey: ["tracker", "avatar", profile.id, profile.avatar_path],
    queryFn: () => fetchAvatar(profile.id),
    enabled: !!profile.avatar_path,
    staleTime: Infinity,
    retry: false,
  });
  const initial = (profile.first_name || profile.username || "?").trim().charAt(0).toUpperCase();
  return (
    <Avatar size={size} src={avatar.data ?? undefined} data-testid="author-avatar" data-loaded={avatar.data ? "yes" : "no"}>
      {initial}
    </Avatar>
  );
}

export function Author({ profile, id }: { profile: Profile | undefined; id: number | null }) {
  const { t } = useI18n();
  if (id === null) return <Typography.Text type="secondary">{t("tracker.messages.noAuthor")}</Typography.Text>;
  if (!profile) return <Typography.Text type="secondary">#{id}</Typography.Text>;
  return (
    <Space size={8} align="start" data-testid="author" data-profile-id={profile.id}>
      <AuthorAvatar profile={profile} />
      <Space orientation="vertical" size={0}>
        <span className="wrap-anywhere" data-testid="author-name">{profileName(profile)}</span>
        {profile.username && <Typography.Text type="secondary" className="wrap-anywhere">@{profile.username}</Typography.Text>}
        {profile.linked_user && (
          <Tooltip title={t("tracker.messages.linkedHint")}>
            <Tag color="blue" data-testid="linked-user">{t("tracker.messages.linked", { username: profile.linked_user.username })}</Tag>
          </Tooltip>
        )}
      </Space>
    </Space>
  );
}

/** The profiles of these authors, one request for the page. */
export function useProfiles(ids: (number | null)[]) {
  const wanted = useMemo(() => [...new Set(ids.filter((id): id is number => id !== null))].sort((a, b) => a - b), [ids]);
  const query = useQuery({
    queryKey: ["tracker", "profiles", wanted],
    queryFn: () => get<Page<Profile>>("/api/v1/profiles", { id: wanted, limit: 1000 }),
    enabled: wanted.length > 0,
    staleTime: 30000,
  });
  return useMemo(() => new Map((query.data?.items ?? []).map((p) => [p.id, p])), [query.data]);
}

export function useTopics() {
  return useQuery({
    queryKey: ["tracker", "topics", "all"],
    queryFn: () => get<Page<Topic>>("/api/v1/topics", { limit: 1000 }),
    staleTime: 30000,
  });
}

// ---- scores

const NOISE_COLORS: Record<NoiseClass, string> = { signal: "green", weak_signal: "gold", noise: "default" };

export function noiseLabel(t: Translate, noise: NoiseClass): string {
  return t(`tracker.noise.${noise}`);
}

export function ScoreCell({ message }: { message: TrackerMessage }) {
  const { t } = useI18n();
  if (message.importance_score === null || message.noise_class === null) {
    return <Tag data-testid="noise-class" data-noise="unscored">{t("tracker.messages.unscored")}</Tag>;
  }
  return (
    <Space size={4} wrap>
      <Tag color={NOISE_COLORS[message.noise_class]} data-testid="noise-class" data-noise={message.noise_class}>
        {noiseLabel(t, message.noise_class)}
      </Tag>
      <span className="mono" data-testid="score">{message.importance_score.toFixed(2)}</span>
    </Space>
  );
}

const FACTORS: [string, MessageKey][] = [
  ["content_quality", "tracker.factor.content_quality"],
  ["author_activity", "tracker.factor.author_activity"],
  ["freshness", "tracker.factor.freshness"],
  ["topic_association", "tracker.factor.topic_association"],
];

function Factors({ message }: { message: TrackerMessage }) {
  const { t, language } = useI18n();
  const factors = message.noise_factors ?? {};
  const weights = (factors.weights ?? {}) as Record<string, unknown>;
  const number = (value: unknown) => (typeof value === "number" ? value.toFixed(2) : "—");
  return (
    <Descriptions size="small" column={{ xs: 1, md: 3 }} data-testid="noise-factors">
      {FACTORS.map(([name, label]) => (
        <Descriptions.Item key={name} label={t(label)}>
          <span className="mono">{number(factors[name])}</span>
          <Typography.Text type="secondary">{"\u00a0×\u00a0"}{number(weights[name])}</Typography.Text>
        </Descriptions.Item>
      ))}
      <Descriptions.Item label={t("tracker.messages.scoredAt")}>{formatTime(message.scored_at, language)}</Descriptions.Item>
      <Descriptions.Item label={t("tracker.messages.source")}>
        {message.source === "webhook" || message.source === "ingestion" ? t(`tracker.source.${message.source}`) : message.source}
      </Descriptions.Item>
      <Descriptions.Item label={t("tracker.messages.telegramId")}>
        <span className="mono">{message.telegram_chat_id} / {message.telegram_message_id}</span>
      </Descriptions.Item>
    </Descriptions>
  );
}

// ---- the table, used here and by the topics tab

export function MessagesTable({ data, total, loading, page, pageSize, onPage, showTopic = true, testId = "messages-table" }: {
  data: TrackerMessage[];
  total: number;
  loading: boolean;
  page: number;
  pageSize: number;
  onPage: (page: number, pageSize: number) => void;
  showTopic?: boolean;
  testId?: string;
}) {
  const { t, language } = useI18n();
  const profiles = useProfiles(data.map((m) => m.user_profile_id));
  const topics = useTopics();
  const topicNames = useMemo(() => new Map((topics.data?.items ?? []).map((topic) => [topic.id, topic.name])), [topics.data]);
  return (
    <Table<TrackerMessage>
      data-testid={testId}
      rowKey="id"
      size="small"
      loading={loading}
      dataSource={data}
      locale={{ emptyText: <Empty description={t("tracker.messages.empty")} /> }}
      pagination={{ current: page, pageSize, total, showSizeChanger: true, pageSizeOptions: [20, 50, 100], onChange: onPage,
        showTotal: (count) => t("tracker.messages.total", { count }), size: "small" }}
      onRow={(message) => ({ "data-message-id": message.id }) as React.HTMLAttributes<HTMLElement>}
      expandable={{ expandedRowRender: (message) => <Factors message={message} />, rowExpandable: (m) => m.noise_factors !== null }}
      columns={[
        { title: t("tracker.messages.sent"), width: 150, render: (_, m) => (
          <Space orientation="vertical" size={0}>
            <span>{formatTime(m.sent_at, language)}</span>
            {m.edited_at && (
              <Tooltip title={formatTime(m.edited_at, language)}>
                <Tag color="purple" data-testid="edited">{t("tracker.messages.edited")}</Tag>
              </Tooltip>
            )}
          </Space>
        ) },
        { title: t("tracker.messages.author"), width: 220, render: (_, m) => <Author id={m.user_profile_id} profile={m.user_profile_id === null ? undefined : profiles.get(m.user_profile_id)} /> },
        { title: t("tracker.messages.text"), render: (_, m) => (
          // Outside text: a text child, never markup.
          <div className="pre-line wrap-anywhere" data-testid="message-text">
            {m.text || <Typography.Text type="secondary">{t("tracker.messages.noText")}</Typography.Text>}
          </div>
        ) },
        { title: t("tracker.messages.score"), width: 160, render: (_, m) => <ScoreCell message={m} /> },
        { title: t("tracker.messages.chat"), width: 150, render: (_, m) => <span className="mono">{m.telegram_chat_id}</span> },
        ...(showTopic
          ? [{ title: t("tracker.messages.topic"), width: 180, render: (_: unknown, m: TrackerMessage) =>
              m.topic_id === null ? <Typography.Text type="secondary">—</Typography.Text> : <span className="wrap-anywhere">{topicNames.get(m.topic_id) ?? `#${m.topic_id}`}</span> }]
          : []),
      ]}
    />
  );
}

// ---- the tab

export function Messages(_: { user: User }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  // The chat is in the URL (?chat=), so a link to one chat's messages opens on it.
  const [params, setParams] = useSearchParams();
  const chat = Number(params.get("chat")) || undefined;
  const setChat = (value: number | undefined) =>
    setParams((now) => {
      const next = new URLSearchParams(now);
      if (value === undefined) next.delete("chat");
      else next.set("chat", String(value));
      return next;
    });
  const [noise, setNoise] = useState<NoiseClass | undefined>();
  const [topic, setTopic] = useState<number | undefined>();
  const [page, setPage] = useState(1);
  const [pageSize, setPageSize] = useState(50);
  const filters = { chat, noise_class: noise, topic_id: topic, limit: pageSize, offset: (page - 1) * pageSize };
  const messages = useQuery({
    queryKey: ["tracker", "messages", filters],
    queryFn: () => get<Page<TrackerMessage>>("/api/v1/messages", filters),
    placeholderData: (previous) => previous,
  });
  const chats = useQuery({ queryKey: ["tracker", "chats"], queryFn: () => get<Page<Chat>>("/api/v1/chats", { limit: 1000 }) });
  const topics = useTopics();
  const refetch = useThrottledInvalidate([["tracker", "messages"], ["tracker", "profiles"]]);
  const refetchChats = useThrottledInvalidate([["tracker", "chats"]], CHATS_EVERY_MS);
  const refetchNewChat = useThrottledInvalidate([["tracker", "chats"]]);
  const shown = useMemo(() => new Set(messages.data?.items.map((m) => m.id)), [messages.data]);
  const known = useMemo(() => new Set(chats.data?.items.map((c) => c.telegram_chat_id)), [chats.data]);

  // A new message (in this view's chat, or any when no chat is chosen) and one on this page that changed (edited,
  // scored) are read again; the rest of the stream passes by.
  useTrackerEvent((event) => {
    if (event.type !== "message.updated" && event.type !== "message_scored") return;
    const id = Number(event.data.message_id);
    const inChat = chat === undefined || Number(event.data.chat_id) === chat;
    if (shown.has(id) || (inChat && page === 1)) refetch();
    // The chat filter's choices (a grouping of every message): read again for a chat not among them, and the
    // counts at most every few seconds.
    if (event.type === "message.updated") {
      if (known.has(Number(event.data.chat_id))) refetchChats();
      else refetchNewChat();
    }
  });

  const reset = () => setPage(1);
  return (
    <Space orientation="vertical" style={{ width: "100%" }} size="middle">
      <Space wrap style={{ width: "100%", justifyContent: "space-between" }}>
        <Space wrap>
          <Select<number> allowClear showSearch placeholder={t("tracker.messages.allChats")} value={chat} style={{ minWidth: 260 }}
            aria-label={t("tracker.messages.chat")}
            onChange={(value) => { setChat(value); reset(); }}
            optionFilterProp="label"
            options={(chats.data?.items ?? []).map((c) => ({ value: c.telegram_chat_id, label: t("tracker.messages.chatOption", { id: c.telegram_chat_id, count: c.messages }) }))} />
          <Select<NoiseClass> allowClear placeholder={t("tracker.messages.allClasses")} value={noise} style={{ minWidth: 180 }}
            aria-label={t("tracker.messages.noiseClass")}
            onChange={(value) => { setNoise(value); reset(); }}
            options={NOISE_CLASSES.map((value) => ({ value, label: noiseLabel(t, value) }))} />
          <Select<number> allowClear showSearch placeholder={t("tracker.messages.allTopics")} value={topic} style={{ minWidth: 220 }}
            aria-label={t("tracker.messages.topic")} optionFilterProp="label"
            onChange={(value) => { setTopic(value); reset(); }}
            options={(topics.data?.items ?? []).map((item) => ({ value: item.id, label: item.name }))} />
          <Button onClick={() => { messages.refetch(); chats.refetch(); }}>{t("app.refresh")}</Button>
        </Space>
        <EventsBadge />
      </Space>
      {messages.error && <Typography.Text type="danger">{errorText(messages.error)}</Typography.Text>}
      <MessagesTable data={messages.data?.items ?? []} total={messages.data?.total ?? 0} loading={messages.isLoading}
        page={page} pageSize={pageSize} onPage={(next, size) => { setPage(size === pageSize ? next : 1); setPageSize(size); }} />
    </Space>
  );
}
