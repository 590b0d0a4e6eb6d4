// The page's language: the one chosen with the switch (remembered), else the browser's first of en/ru/uk.
import { Select } from "antd";
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { en, type Catalog, type MessageKey } from "./en";
import { ru } from "./ru";
import { uk } from "./uk";

export const LANGUAGES = { en: "English", ru: "Русский", uk: "Українська" } as const;
export type Language = keyof typeof LANGUAGES;
const CATALOGS: Record<Language, Catalog> = { en, ru, uk };
const KEY = "longrun.language";

export function pickLanguage(stored: string | null, preferred: readonly string[]): Language {
  if (stored && stored in LANGUAGES) return stored as Language;
  for (const tag of preferred) {
    const base = tag.toLowerCase().split("-")[0];
    if (base in LANGUAGES) return base as Language;
  }
  return "en";
}

export type Translate = (key: MessageKey, values?: Record<string, string | number>) => string;

interface I18n {
  language: Language;
  setLanguage: (language: Language) => void;
  t: Translate;
}

const Context = createContext<I18n | null>(null);

export function I18nProvider({ children }: { children: ReactNode }) {
  const [language, setLanguageState] = useState<Language>(() =>
    pickLanguage(localStorage.getItem(KEY), navigator.languages ?? [navigator.language]),
  );
  const setLanguage = useCallback((next: Language) => {
    localStorage.setItem(KEY, next);
    setLanguageState(next);
  }, []);
  const t = useCallback<Translate>(
    (key, values) => {
      const text = CATALOGS[language][key] ?? en[key] ?? key;
      return values ? text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole)) : text;
    },
    [language],
  );
  const value = useMemo(() => ({ language, setLanguage, t }), [language, setLanguage, t]);
  document.documentElement.lang = language;
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useI18n(): I18n {
  const value = useContext(Context);
  if (!value) throw new Error("useI18n outside I18nProvider");
  return value;
}

/** The language switch, on the sign-in card and in the header. */
export function LanguageSelect({ size }: { size?: "small" | "middle" }) {
  const { t, language, setLanguage } = useI18n();
  return (
    <Select<Language> size={size} value={language} onChange={setLanguage} aria-label={t("app.language")} style={{ width: 130 }}
      options={Object.entries(LANGUAGES).map(([value, label]) => ({ value: value as Language, label }))} />
  );
}
