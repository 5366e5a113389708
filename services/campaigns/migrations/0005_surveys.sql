-- Surveys that ask why (issue 19.4): a survey is a list of questions (the score, "what is the main
-- reason for your score?", optional extras), asked for a purpose (relationship: at most once per
-- period and never during an open complaint; transactional: after a resolved ticket or a delivered
-- order), and each question is answered once.
--
-- The reason's text is never stored here: it lives only in the event log (SurveyQuestionAnswered),
-- sealed under the customer's key, so erasing the customer (destroying the key) leaves nothing to
-- delete in this database. An answer row only says which question was answered, when, and the
-- score or choice (anonymous facts).
alter table surveys
    add column if not exists purpose     text check (purpose in ('relationship', 'transactional')),
    add column if not exists order_id    text,
    add column if not exists questions   jsonb;

create table if not exists survey_question_answers (
    survey_id           uuid        not null references surveys (id),
    question_id         text        not null,
    answered_at         timestamptz not null,
    score               integer,
    choice              text,
    primary key (survey_id, question_id)
);

-- When each customer was last sent a relationship survey: the "once per period" rule reads it for
-- every decision and the relationship sweep selects on it.
alter table customer_replica add column if not exists last_relationship_survey_at timestamptz;

update customer_replica r set last_relationship_survey_at = s.sent_at
from (select customer_id, max(sent_at) as sent_at from surveys where purpose = 'relationship'
      group by customer_id) as s
where s.customer_id = r.customer_id and r.last_relationship_survey_at is null;
