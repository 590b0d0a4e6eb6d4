// Signed out: the sign-in form. Signed in: the header (screens the role may use, language, live state, who) and the
// screen of the current path. A reload keeps both the session and the path.
import { useQuery } from "@tanstack/react-query";
import { Badge, Button, Layout, Menu, Result, Space, Spin, Typography } from "antd";
import { Suspense, useEffect, useState } from "react";
import { Navigate, Route, Routes, useLocation, useNavigate } from "react-router-dom";
import { get, signOut } from "./api/client";
import { onSessionChange, readSession, type Session } from "./api/session";
import { LanguageSelect, useI18n } from "./i18n";
import type { MessageKey } from "./i18n/en";
import { JobsLiveProvider, useJobsLive } from "./jobsLive";
import { SignIn } from "./SignIn";
import { TelegramLink } from "./components/TelegramLink";
import { SCREENS } from "./screens";

export interface DashboardConfig {
  temporal_ui_url: string;
  temporal_namespace: string;
}

export const useConfig = () =>
  useQuery({ queryKey: ["config"], queryFn: () => get<DashboardConfig>("/api/v1/config"), staleTime: Infinity });

function LiveBadge() {
  const { state } = useJobsLive();
  const { t } = useI18n();
  const color = state === "live" ? "green" : state === "connecting" ? "blue" : "orange";
  const key: MessageKey = state === "live" ? "live.live" : state === "connecting" ? "live.connecting" : "live.down";
  return <Badge color={color} text={t(key)} data-testid="live-state" data-state={state} />;
}

function Header({ session }: { session: Session }) {
  const { t } = useI18n();
  const location = useLocation();
  const navigate = useNavigate();
  const screens = SCREENS.filter((screen) => screen.allowed(session.user.role));
  const current = screens.find((screen) => location.pathname.startsWith(screen.path))?.path ?? "";
  return (
    <Layout.Header className="shell-header">
      <span className="shell-brand">{t("app.title")}</span>
      <Menu
        className="shell-menu"
        mode="horizontal"
        selectedKeys={[current]}
        items={screens.map((screen) => ({ key: screen.path, label: t(screen.label) }))}
        onClick={({ key }) => navigate(key)}
      />
      <Space size="middle">
        <LiveBadge />
        <LanguageSelect />
        <Typography.Text data-testid="whoami">
          {t("app.signedInAs", { username: session.user.username, role: session.user.role })}
        </Typography.Text>
        <TelegramLink />
        <Button onClick={() => signOut()}>{t("app.signOut")}</Button>
      </Space>
    </Layout.Header>
  );
}

export function Shell() {
  const [session, setSession] = useState<Session | null>(readSession);
  useEffect(() => onSessionChange(setSession), []);
  if (!session) return <SignIn />;
  const screens = SCREENS.filter((screen) => screen.allowed(session.user.role));
  return <SignedIn session={session} screens={screens} />;
}

function SignedIn({ session, screens }: { session: Session; screens: typeof SCREENS }) {
  const { t } = useI18n();
  return (
    // Keyed by user: another account signing in in this tab starts from a clean slate.
    <JobsLiveProvider user={session.user} key={session.user.username}>
      <Layout style={{ minHeight: "100vh" }}>
        <Header session={session} />
        <Layout.Content className="shell-content">
          <Routes>
            {screens.map((screen) => (
              <Route
                key={screen.path}
                path={`${screen.path}/*`}
                element={
                  <Suspense fallback={<Spin style={{ display: "block", margin: 48 }} />}>
                    <screen.Component user={session.user} />
                  </Suspense>
                }
              />
            ))}
            <Route
              path="*"
              element={
                screens.length ? (
                  <Navigate to={screens[0].path} replace />
                ) : (
                  <Result status="info" title={t("app.noScreens", { role: session.user.role })} data-testid="no-screens" />
                )
              }
            />
          </Routes>
        </Layout.Content>
      </Layout>
    </JobsLiveProvider>
  );
}
