// The tracker's search tab (web/src/screens/tracker/index.tsx): semantic search over messages and atoms
// (GET /api/v1/search), ranked by how close each is in meaning; for everyone signed in.
import { useQuery } from "@tanstack/react-query";
import { Card, Col, Empty, Input, Row, Select, Space, Table, Typography } from "antd";
import { useMemo, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { get } from "@/api/client";
import type { User } from "@/api/session";
import { useErrorText } from "@/errors";
import { useI18n } from "@/i18n";
import { AtomTypeTag, type AtomType } from "./Knowledge";
import { useTopics } from "./Messages";

interface MessageHit {
  id: number;
  telegram_chat_id: number;
  text: string;
  topic_id: number | null;
  similarity: number;
}

interface AtomHit {
  id: number;
  topic_id: number | null;
  type: AtomType;
  title: string;
  content: string;
  similarity: number;
}

interface SearchAnswer {
  query: string;
  provider_id: number;
  messages: MessageHit[];
  atoms: AtomHit[];
}

function Similarity({ value }: { value: number }) {
  const { t } = useI18n();
  return (
    <Typography.Text type="secondary" className="mono" data-testid="similarity">
      {t("tracker.search.similarity", { percent: Math.round(Math.max(0, value) * 100) })}
    </Typography.Text>
  );
}

export function Search(_: { user: User }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  // The query is in the URL, so a reload or a shared link searches again.
  const [params, setParams] = useSearchParams();
  const asked = params.get("q") ?? "";
  const [draft, setDraft] = useState(asked);
  const [limit, setLimit] = useState(10);
  const search = useQuery({
    queryKey: ["tracker", "search", asked, limit],
    queryFn: () => get<SearchAnswer>("/api/v1/search", { q: asked, limit }),
    enabled: asked.trim() !== "",
    staleTime: 30000,
  });
  const topics = useTopics();
  const topicNames = useMemo(() => new Map((topics.data?.items ?? []).map((topic) => [topic.id, topic.name])), [topics.data]);
  const topicOf = (id: number | null) => (id === null ? null : topicNames.get(id) ?? `#${id}`);

  return (
    <Space orientation="vertical" style={{ width: "100%" }} size="middle">
      <Space.Compact style={{ width: "100%", maxWidth: 820 }}>
        <Input.Search
          aria-label={t("tracker.search.label")}
          placeholder={t("tracker.search.placeholder")}
          enterButton={t("tracker.search.submit")}
          allowClear
          maxLength={2000}
          value={draft}
          loading={search.isFetching}
          onChange={(event) => setDraft(event.target.value)}
          onSearch={(value) => {
            const q = value.trim();
            setParams((now) => {
              const next = new URLSearchParams(now);
              if (q) next.set("q", q);
              else next.delete("q");
              return next;
            });
            if (q === asked) search.refetch();
          }}
        />
        <Select<number> value={limit} onChange={setLimit} style={{ width: 150 }} aria-label={t("tracker.search.limit")}
          options={[10, 20, 50].map((value) => ({ value, label: t("tracker.search.perKind", { count: value }) }))} />
      </Space.Compact>
      {search.error && <Typography.Text type="danger" data-testid="search-error">{errorText(search.error)}</Typography.Text>}
      {!asked ? (
        <Empty description={t("tracker.search.hint")} />
      ) : (
        <Row gutter={[16, 16]}>
          <Col xs={24} lg={12}>
            <Card size="small" title={t("tracker.search.messages", { count: search.data?.messages.length ?? 0 })}>
              <Table<MessageHit> data-testid="search-messages" rowKey="id" size="small" loading={search.isLoading} dataSource={search.data?.messages ?? []}
                pagination={false} locale={{ emptyText: <Empty description={t("tracker.search.noMessages")} /> }}
                onRow={(hit) => ({ "data-message-id": hit.id }) as React.HTMLAttributes<HTMLElement>}
                columns={[
                  { title: t("tracker.messages.text"), render: (_, hit) => (
                    <Space orientation="vertical" size={2} style={{ width: "100%" }}>
                      {/* Outside text: a text child, never markup. */}
                      <div className="pre-line wrap-anywhere" data-testid="hit-text">{hit.text}</div>
                      <Typography.Text type="secondary">
                        {t("tracker.messages.chat")} <span className="mono">{hit.telegram_chat_id}</span>
                        {topicOf(hit.topic_id) && <> · {t("tracker.messages.topic")}: <span className="wrap-anywhere">{topicOf(hit.topic_id)}</span></>}
                      </Typography.Text>
                    </Space>
                  ) },
                  { title: t("tracker.search.closeness"), width: 110, render: (_, hit) => <Similarity value={hit.similarity} /> },
                ]} />
            </Card>
          </Col>
          <Col xs={24} lg={12}>
            <Card size="small" title={t("tracker.search.atoms", { count: search.data?.atoms.length ?? 0 })}>
              <Table<AtomHit> data-testid="search-atoms" rowKey="id" size="small" loading={search.isLoading} dataSource={search.data?.atoms ?? []}
                pagination={false} locale={{ emptyText: <Empty description={t("tracker.search.noAtoms")} /> }}
                onRow={(hit) => ({ "data-atom-id": hit.id }) as React.HTMLAttributes<HTMLElement>}
                columns={[
                  { title: t("tracker.knowledge.atom"), render: (_, hit) => (
                    <Space orientation="vertical" size={2} style={{ width: "100%" }}>
                      <Space wrap size={4}>
                        <AtomTypeTag type={hit.type} />
                        <Typography.Text strong className="wrap-anywhere">{hit.title}</Typography.Text>
                      </Space>
                      <span className="pre-line wrap-anywhere">{hit.content}</span>
                      {topicOf(hit.topic_id) && (
                        <Typography.Text type="secondary">{t("tracker.messages.topic")}: <span className="wrap-anywhere">{topicOf(hit.topic_id)}</span></Typography.Text>
                      )}
                    </Space>
                  ) },
                  { title: t("tracker.search.closeness"), width: 110, render: (_, hit) => <Similarity value={hit.similarity} /> },
                ]} />
            </Card>
          </Col>
        </Row>
      )}
    </Space>
  );
}
