// The providers every screen stands on: language, the component library (its locale, and the CSP nonce its
// runtime styles need), server state, routing and the session.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { App as AntApp, ConfigProvider } from "antd";
import enUS from "antd/locale/en_US";
import ruRU from "antd/locale/ru_RU";
import ukUA from "antd/locale/uk_UA";
import { BrowserRouter } from "react-router-dom";
import { ApiError } from "./api/client";
import { nonce } from "./cspNonce";
import { Shell } from "./Shell";
import { I18nProvider, useI18n, type Language } from "./i18n";

const LOCALES = { en: enUS, ru: ruRU, uk: ukUA } satisfies Record<Language, unknown>;

const queries = new QueryClient({
  defaultOptions: {
    queries: {
      // A 4xx will answer the same again; a dropped connection or a 5xx may not.
      retry: (count, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 2,
      refetchOnWindowFocus: false,
    },
  },
});

function Themed() {
  const { language } = useI18n();
  return (
    <ConfigProvider locale={LOCALES[language]} csp={{ nonce }}>
      <AntApp>
        <BrowserRouter>
          <Shell />
        </BrowserRouter>
      </AntApp>
    </ConfigProvider>
  );
}

export function Root() {
  return (
    <I18nProvider>
      <QueryClientProvider client={queries}>
        <Themed />
      </QueryClientProvider>
    </I18nProvider>
  );
}
