// Linking the signed-in user's Telegram: the bot then sends them their long jobs' progress and ends. The code is
// one-time and short-lived; the page waits for the bot to hear it (no reload).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, Button, Modal, Space, Typography } from "antd";
import { useState } from "react";
import { del, get, post } from "@/api/client";
import { useErrorText } from "@/errors";
import { parseTime } from "@/format";
import { useI18n } from "@/i18n";
import { OutsideLink } from "@/safe";

interface Me {
  id: number;
  username: string;
  role: string;
  telegram: { user_id: number; language: string | null; linked_at: string } | null;
}

interface LinkCode {
  code: string;
  command: string;
  deep_link: string | null;
  bot_username: string | null;
  expires_at: string;
}

const WAIT_MS = 2000;

export function TelegramLink() {
  const { t } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [code, setCode] = useState<LinkCode | null>(null);
  const me = useQuery({
    queryKey: ["me"],
    queryFn: () => get<Me>("/api/v1/users/me"),
    enabled: open,
    refetchInterval: open && code ? WAIT_MS : false,
  });
  const linked = me.data?.telegram ?? null;
  const link = useMutation({ mutationFn: () => post<LinkCode>("/api/v1/users/me/telegram/link"), onSuccess: setCode });
  const unlink = useMutation({
    mutationFn: () => del("/api/v1/users/me/telegram"),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["me"] }),
  });
  const minutes = code ? Math.max(1, Math.round(((parseTime(code.expires_at)?.getTime() ?? Date.now()) - Date.now()) / 60000)) : 0;
  const error = link.error ?? unlink.error ?? me.error;
  return (
    <>
      <Button onClick={() => setOpen(true)} data-testid="telegram-button">{t("telegram.title")}</Button>
      <Modal open={open} title={t("telegram.title")} footer={null} onCancel={() => { setOpen(false); setCode(null); }}>
        <Space direction="vertical" style={{ width: "100%" }} data-testid="telegram-link">
          {error && <Alert type="error" showIcon title={errorText(error)} />}
          {linked ? (
            <>
              <Typography.Text data-testid="telegram-linked">{t("telegram.linked", { id: linked.user_id })}</Typography.Text>
              <Button danger loading={unlink.isPending} onClick={() => { setCode(null); unlink.mutate(); }}>{t("telegram.unlink")}</Button>
            </>
          ) : (
            <>
              <Typography.Text>{t("telegram.notLinked")}</Typography.Text>
              {code ? (
                <>
                  <Typography.Text>{t("telegram.send", { bot: code.bot_username ? `@${code.bot_username}` : "", minutes })}</Typography.Text>
                  <Typography.Text code copyable data-testid="telegram-command">{code.command}</Typography.Text>
                  {code.deep_link && <OutsideLink url={code.deep_link}>{t("telegram.open")}</OutsideLink>}
                  <Typography.Text type="secondary">{t("telegram.waiting")}</Typography.Text>
                </>
              ) : (
                <Button type="primary" loading={link.isPending} onClick={() => link.mutate()}>{t("telegram.link")}</Button>
              )}
            </>
          )}
        </Space>
      </Modal>
    </>
  );
}
