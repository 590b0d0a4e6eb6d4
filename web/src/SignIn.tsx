import { Alert, Button, Card, Form, Input } from "antd";
import { useState } from "react";
import { signIn } from "./api/client";
import { LanguageSelect, useI18n } from "./i18n";
import { useErrorText } from "./errors";

export function SignIn() {
  const { t } = useI18n();
  const errorText = useErrorText();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <Card className="sign-in" title={t("signIn.title")}
      extra={
        <LanguageSelect size="small" />
      }>
      <Form
        layout="vertical"
        onFinish={async ({ username, password }: { username: string; password: string }) => {
          setBusy(true);
          setError(null);
          try {
            await signIn(username, password);
          } catch (caught) {
            setError(errorText(caught));
          } finally {
            setBusy(false);
          }
        }}
      >
        <Form.Item name="username" label={t("signIn.username")} rules={[{ required: true, message: t("signIn.required") }]}>
          <Input autoComplete="username" autoFocus />
        </Form.Item>
        <Form.Item name="password" label={t("signIn.password")} rules={[{ required: true, message: t("signIn.required") }]}>
          <Input.Password autoComplete="current-password" />
        </Form.Item>
        {error && <Alert type="error" title={error} showIcon style={{ marginBottom: 16 }} data-testid="sign-in-error" />}
        <Button type="primary" htmlType="submit" loading={busy} block>
          {t("signIn.submit")}
        </Button>
      </Form>
    </Card>
  );
}
