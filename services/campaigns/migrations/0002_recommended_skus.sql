-- The customer's recommended products, best first, from analytics' RecommendationsChanged: conditions
-- read them (customer.recommended_skus) and an offer "from_recommendations" takes its product from them.
alter table customer_replica add column if not exists recommended_skus text[] not null default '{}';
