import type { Catalog } from "./en";

export const uk: Catalog = {
  // ---- the shell
  "app.title": "Longrun",
  "app.signedInAs": "{username} · {role}",
  "app.signOut": "Вийти",
  "app.language": "Мова",
  "app.temporalUi": "Temporal Web UI",
  "app.offline": "Немає зв'язку з сервером Longrun. Перевірте з'єднання та спробуйте ще раз.",
  "app.serverError": "Помилка на сервері ({status}). Спробуйте трохи згодом.",
  "app.sessionExpired": "Сесія закінчилася. Увійдіть знову.",
  "app.loading": "Завантаження…",
  "app.refresh": "Оновити",
  "app.save": "Зберегти",
  "app.cancel": "Скасувати",
  "app.close": "Закрити",
  "app.delete": "Видалити",
  "app.edit": "Змінити",
  "app.add": "Додати",
  "app.confirm": "Ви впевнені?",
  "app.yes": "Так",
  "app.no": "Ні",
  "app.all": "Усі",
  "app.none": "—",
  "app.notAllowed": "Роль {role} не може цього робити.",
  "live.live": "у реальному часі",
  "live.connecting": "підключення…",
  "live.down": "опитування · перепідключення",
  "nav.jobs": "Завдання",
  "nav.news": "Новини",
  "nav.webbuddy": "WebBuddy",
  "nav.crossposting": "Кросспостинг",
  "nav.onec": "1С",
  "nav.tracker": "Трекер",

  // ---- sign in
  "signIn.title": "Вхід до Longrun",
  "signIn.username": "Ім'я користувача",
  "signIn.password": "Пароль",
  "signIn.submit": "Увійти",
  "signIn.required": "Введіть ім'я користувача та пароль.",

  // ---- jobs
  "jobs.title": "Завдання",
  "jobs.type": "Тип",
  "jobs.status": "Статус",
  "jobs.owner": "Власник",
  "jobs.started": "Розпочато",
  "jobs.closed": "Завершено",
  "jobs.progress": "Прогрес",
  "jobs.eta": "Залишилось",
  "jobs.actions": "Дії",
  "jobs.details": "Подробиці",
  "jobs.cancel": "Скасувати",
  "jobs.cancelConfirm": "Скасувати завдання? Уже зроблене збережеться.",
  "jobs.cancelled": "Скасування запитано",
  "jobs.rerun": "Запустити знову",
  "jobs.rerunStarted": "Запущено знову: {jobId}",
  "jobs.cancelMany": "Скасувати всі відповідні",
  "jobs.cancelManyConfirm": "Скасувати всі завдання, що виконуються й відповідають фільтру?",
  "jobs.cancelManyDone": "Запитано скасування {count} завдань",
  "jobs.allTypes": "Усі типи",
  "jobs.allStatuses": "Усі статуси",
  "jobs.empty": "Завдань поки немає.",
  "jobs.retrying": "повтор кроку {step}: спроба {attempt}",
  "jobs.lastError": "Остання помилка",
  "jobs.errors": "Помилки",
  "jobs.message": "Повідомлення",
  "jobs.result": "Результат",
  "jobs.counts": "{processed} з {total} · {succeeded} успішно · {skipped} пропущено · {failed} з помилкою",
  "jobs.openInTemporal": "Відкрити в Temporal",
  "jobs.watching": "Відстежуються",
  "jobs.noticeCompleted": "{type} завершено: {jobId}",
  "jobs.noticeFailed": "{type} завершилося з помилкою: {jobId}",
  "jobs.noticeCancelled": "{type} скасовано: {jobId}",
  "jobs.services": "Служби",
  "jobs.serviceHealth": "Стан",
  "status.pending": "у черзі",
  "status.running": "виконується",
  "status.paused": "на паузі",
  "status.cancelling": "скасовується",
  "status.retrying": "повторюється",
  "status.completed": "завершено",
  "status.failed": "помилка",
  "status.cancelled": "скасовано",

  // ---- news

  // ---- webbuddy

  // ---- crossposting

  // ---- 1C

  // ---- tracker
};
