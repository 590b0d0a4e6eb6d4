import type { Catalog } from "./en";

export const ru: Catalog = {
  // ---- the shell
  "app.title": "Longrun",
  "app.signedInAs": "{username} · {role}",
  "app.signOut": "Выйти",
  "app.language": "Язык",
  "app.temporalUi": "Temporal Web UI",
  "app.offline": "Нет связи с сервером Longrun. Проверьте соединение и попробуйте ещё раз.",
  "app.serverError": "Ошибка на сервере ({status}). Попробуйте чуть позже.",
  "app.sessionExpired": "Сессия истекла. Войдите снова.",
  "app.loading": "Загрузка…",
  "app.refresh": "Обновить",
  "app.save": "Сохранить",
  "app.cancel": "Отмена",
  "app.close": "Закрыть",
  "app.delete": "Удалить",
  "app.edit": "Изменить",
  "app.add": "Добавить",
  "app.confirm": "Вы уверены?",
  "app.yes": "Да",
  "app.no": "Нет",
  "app.all": "Все",
  "app.none": "—",
  "app.notAllowed": "Роль {role} не может этого делать.",
  "live.live": "в реальном времени",
  "live.connecting": "подключение…",
  "live.down": "опрос · переподключение",
  "nav.jobs": "Задачи",
  "nav.news": "Новости",
  "nav.webbuddy": "WebBuddy",
  "nav.crossposting": "Кросспостинг",
  "nav.onec": "1С",
  "nav.tracker": "Трекер",

  // ---- sign in
  "signIn.title": "Вход в Longrun",
  "signIn.username": "Имя пользователя",
  "signIn.password": "Пароль",
  "signIn.submit": "Войти",
  "signIn.required": "Введите имя пользователя и пароль.",

  // ---- jobs
  "jobs.title": "Задачи",
  "jobs.type": "Тип",
  "jobs.status": "Статус",
  "jobs.owner": "Владелец",
  "jobs.started": "Начата",
  "jobs.closed": "Завершена",
  "jobs.progress": "Прогресс",
  "jobs.eta": "Осталось",
  "jobs.actions": "Действия",
  "jobs.details": "Подробности",
  "jobs.cancel": "Отменить",
  "jobs.cancelConfirm": "Отменить задачу? Уже сделанное сохранится.",
  "jobs.cancelled": "Отмена запрошена",
  "jobs.rerun": "Запустить снова",
  "jobs.rerunStarted": "Запущена снова: {jobId}",
  "jobs.cancelMany": "Отменить все подходящие",
  "jobs.cancelManyConfirm": "Отменить все выполняющиеся задачи, подходящие под фильтр?",
  "jobs.cancelManyDone": "Запрошена отмена {count} задач",
  "jobs.allTypes": "Все типы",
  "jobs.allStatuses": "Все статусы",
  "jobs.empty": "Задач пока нет.",
  "jobs.retrying": "повтор шага {step}: попытка {attempt}",
  "jobs.lastError": "Последняя ошибка",
  "jobs.errors": "Ошибки",
  "jobs.message": "Сообщение",
  "jobs.result": "Результат",
  "jobs.counts": "{processed} из {total} · {succeeded} успешно · {skipped} пропущено · {failed} с ошибкой",
  "jobs.openInTemporal": "Открыть в Temporal",
  "jobs.watching": "Отслеживаются",
  "jobs.noticeCompleted": "{type} завершена: {jobId}",
  "jobs.noticeFailed": "{type} завершилась с ошибкой: {jobId}",
  "jobs.noticeCancelled": "{type} отменена: {jobId}",
  "jobs.services": "Службы",
  "jobs.serviceHealth": "Состояние",
  "status.pending": "в очереди",
  "status.running": "выполняется",
  "status.paused": "на паузе",
  "status.cancelling": "отменяется",
  "status.retrying": "повторяется",
  "status.completed": "завершена",
  "status.failed": "ошибка",
  "status.cancelled": "отменена",

  // ---- news

  // ---- webbuddy

  // ---- crossposting

  // ---- 1C

  // ---- tracker
};
