// The tracker's knowledge tab (web/src/screens/tracker/index.tsx): the topics extraction found, latest first; a
// topic's atoms (filtered by type on the server), each with the messages it came from; and the topic's messages.
// An extraction that ends (knowledge.extraction_completed) brings its new topics and atoms in without a reload.
import { useQuery } from "@tanstack/react-query";
import { Card, Col, Descriptions, Empty, Progress, Row, Segmented, Select, Space, Table, Tag, Typography } from "antd";
import { useState } from "react";
import { get } from "@/api/client";
import type { User } from "@/api/session";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { EventsBadge, MessagesTable, useThrottledInvalidate, useTrackerEvent, type Page, type Topic, type TrackerMessage } from "./Messages";

export type AtomType = "problem" | "solution" | "decision" | "question" | "insight" | "pattern" | "requirement";
export const ATOM_TYPES: AtomType[] = ["problem", "solution", "decision", "question", "insight", "pattern", "requirement"];
export const ATOM_COLORS: Record<AtomType, string> = {
  problem: "red", solution: "green", decision: "blue", question: "orange", insight: "purple", pattern: "cyan", requirement: "geekblue",
};

interface Atom {
  id: number;
  topic_id: number | null;
  type: AtomType;
  title: string;
  content: string;
  confidence: number | null;
  created_at: string;
}

export function AtomTypeTag({ type }: { type: AtomType }) {
  const { t } = useI18n();
  return <Tag color={ATOM_COLORS[type] ?? "default"} data-testid="atom-type">{t(`tracker.atom.${type}`)}</Tag>;
}

/** The messages an atom came from: its ids, then each message (an atom comes from a handful). */
function AtomSources({ atomId }: { atomId: number }) {
  const { t, language } = useI18n();
  const errorText = useErrorText();
  const sources = useQuery({
    queryKey: ["tracker", "atom", atomId, "sources"],
    queryFn: async () => {
      const atom = await get<Atom & { message_ids: number[] }>(`/api/v1/atoms/${atomId}`);
      const messages = await Promise.all(atom.message_ids.slice(0, 20).map((id) => get<TrackerMessage>(`/api/v1/messages/${id}`).catch(() => null)));
      return { count: atom.message_ids.length, messages: messages.filter((m): m is TrackerMessage => m !== null) };
    },
  });
  if (sources.isLoading) return <Typography.Text type="secondary">{t("app.loading")}</Typography.Text>;
  if (sources.error) return <Typography.Text type="danger">{errorText(sources.error)}</Typography.Text>;
  if (!sources.data?.messages.length) return <Typography.Text type="secondary">{t("tracker.knowledge.noSources")}</Typography.Text>;
  return (
    <div data-testid="atom-sources">
      <Typography.Text type="secondary">{t("tracker.knowledge.sources", { count: sources.data.count })}</Typography.Text>
      <ul style={{ margin: "4px 0 0", paddingLeft: 18 }}>
        {sources.data.messages.map((m) => (
          <li key={m.id} data-message-id={m.id}>
            <Typography.Text type="secondary">{formatTime(m.sent_at, language)} · <span className="mono">{m.telegram_chat_id}</span></Typography.Text>
            <div className="pre-line wrap-anywhere">{m.text}</div>
          </li>
        ))}
      </ul>
    </div>
  );
}

function TopicDetail({ topicId }: { topicId: number }) {
  const { t, language } = useI18n();
  const errorText = useErrorText();
  const [type, setType] = useState<AtomType | undefined>();
  const [atomPage, setAtomPage] = useState(1);
  const [view, setView] = useState<"atoms" | "messages">("atoms");
  const [messagePage, setMessagePage] = useState(1);
  const [messageSize, setMessageSize] = useState(20);
  const topic = useQuery({ queryKey: ["tracker", "topic", topicId], queryFn: () => get<Topic>(`/api/v1/topics/${topicId}`) });
  const atomQuery = { topic_id: topicId, type, limit: 20, offset: (atomPage - 1) * 20 };
  const atoms = useQuery({
    queryKey: ["tracker", "atoms", atomQuery],
    queryFn: () => get<Page<Atom>>("/api/v1/atoms", atomQuery),
    placeholderData: (previous) => previous,
  });
  const messageQuery = { topic_id: topicId, limit: messageSize, offset: (messagePage - 1) * messageSize };
  const messages = useQuery({
    queryKey: ["tracker", "messages", messageQuery],
    queryFn: () => get<Page<TrackerMessage>>("/api/v1/messages", messageQuery),
    enabled: view === "messages",
    placeholderData: (previous) => previous,
  });
  if (topic.error) return <Typography.Text type="danger">{errorText(topic.error)}</Typography.Text>;
  return (
    <Card size="small" data-testid="topic-detail" data-topic-id={topicId}
      title={<span className="wrap-anywhere">{topic.data?.name ?? t("app.loading")}</span>}
      extra={<Segmented<"atoms" | "messages"> value={view} onChange={setView}
        options={[{ value: "atoms", label: t("tracker.knowledge.atoms") }, { value: "messages", label: t("tracker.knowledge.messages") }]} />}>
      <Space orientation="vertical" style={{ width: "100%" }}>
        {topic.data && (
          <Descriptions size="small" column={2}>
            <Descriptions.Item label={t("tracker.knowledge.description")} span={2}>
              <span className="pre-line wrap-anywhere">{topic.data.description || "—"}</span>
            </Descriptions.Item>
            <Descriptions.Item label={t("tracker.knowledge.created")}>{formatTime(topic.data.created_at, language)}</Descriptions.Item>
            <Descriptions.Item label={t("tracker.knowledge.updated")}>{formatTime(topic.data.updated_at, language)}</Descriptions.Item>
          </Descriptions>
        )}
        {view === "atoms" ? (
          <>
            <Select<AtomType> allowClear placeholder={t("tracker.knowledge.allTypes")} value={type} style={{ minWidth: 200 }}
              aria-label={t("tracker.knowledge.type")} onChange={(value) => { setType(value); setAtomPage(1); }}
              options={ATOM_TYPES.map((value) => ({ value, label: t(`tracker.atom.${value}`) }))} />
            {atoms.error && <Typography.Text type="danger">{errorText(atoms.error)}</Typography.Text>}
            <Table<Atom> data-testid="atoms-table" rowKey="id" size="small" loading={atoms.isLoading} dataSource={atoms.data?.items ?? []}
              locale={{ emptyText: <Empty description={t("tracker.knowledge.noAtoms")} /> }}
              pagination={{ current: atomPage, pageSize: 20, total: atoms.data?.total ?? 0, onChange: setAtomPage, hideOnSinglePage: true, size: "small" }}
              onRow={(atom) => ({ "data-atom-id": atom.id }) as React.HTMLAttributes<HTMLElement>}
              expandable={{ expandedRowRender: (atom) => <AtomSources atomId={atom.id} /> }}
              columns={[
                { title: t("tracker.knowledge.type"), width: 130, render: (_, atom) => <AtomTypeTag type={atom.type} /> },
                { title: t("tracker.knowledge.atom"), render: (_, atom) => (
                  <Space orientation="vertical" size={0}>
                    <Typography.Text strong className="wrap-anywhere">{atom.title}</Typography.Text>
                    <span className="pre-line wrap-anywhere">{atom.content}</span>
                  </Space>
                ) },
                { title: t("tracker.knowledge.confidence"), width: 140, render: (_, atom) =>
                  atom.confidence === null ? "—" : <Progress percent={Math.round(atom.confidence * 100)} size="small" /> },
              ]} />
          </>
        ) : (
          <MessagesTable testId="topic-messages" showTopic={false} data={messages.data?.items ?? []} total={messages.data?.total ?? 0}
            loading={messages.isLoading} page={messagePage} pageSize={messageSize}
            onPage={(next, size) => { setMessagePage(size === messageSize ? next : 1); setMessageSize(size); }} />
        )}
      </Space>
    </Card>
  );
}

export function Knowledge(_: { user: User }) {
  const { t, language } = useI18n();
  const errorText = useErrorText();
  const [page, setPage] = useState(1);
  const [chosen, setChosen] = useState<number | undefined>();
  const query = { limit: 20, offset: (page - 1) * 20 };
  const topics = useQuery({
    queryKey: ["tracker", "topics", query],
    queryFn: () => get<Page<Topic>>("/api/v1/topics", query),
    placeholderData: (previous) => previous,
  });
  const refetch = useThrottledInvalidate([["tracker", "topics"], ["tracker", "topic"], ["tracker", "atoms"]]);
  useTrackerEvent((event) => {
    if (event.type === "knowledge.extraction_completed") refetch();
  });
  const selected = chosen ?? topics.data?.items[0]?.id;
  return (
    <Row gutter={[16, 16]}>
      <Col xs={24} lg={9}>
        <Card size="small" title={t("tracker.knowledge.topics")} extra={<EventsBadge />}>
          {topics.error && <Typography.Text type="danger">{errorText(topics.error)}</Typography.Text>}
          <Table<Topic> data-testid="topics-table" rowKey="id" size="small" loading={topics.isLoading} dataSource={topics.data?.items ?? []}
            locale={{ emptyText: <Empty description={t("tracker.knowledge.noTopics")} /> }}
            pagination={{ current: page, pageSize: 20, total: topics.data?.total ?? 0, onChange: setPage, hideOnSinglePage: true, size: "small" }}
            rowClassName={(topic) => (topic.id === selected ? "ant-table-row-selected" : "")}
            onRow={(topic) => ({ "data-topic-id": topic.id, onClick: () => setChosen(topic.id), style: { cursor: "pointer" } }) as React.HTMLAttributes<HTMLElement>}
            columns={[
              { title: t("tracker.knowledge.topic"), render: (_, topic) => (
                <Space orientation="vertical" size={0}>
                  <Typography.Text strong className="wrap-anywhere">{topic.name}</Typography.Text>
                  {topic.description && <Typography.Text type="secondary" className="wrap-anywhere" ellipsis={{ tooltip: false }}>{topic.description}</Typography.Text>}
                </Space>
              ) },
              { title: t("tracker.knowledge.updated"), width: 130, render: (_, topic) => formatTime(topic.updated_at, language) },
            ]} />
        </Card>
      </Col>
      <Col xs={24} lg={15}>
        {selected === undefined ? <Empty description={t("tracker.knowledge.pick")} /> : <TopicDetail key={selected} topicId={selected} />}
      </Col>
    </Row>
  );
}
