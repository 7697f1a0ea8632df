export { LIST_ID_PATTERN, TITLE_MAX_LENGTH } from '@tasktier/contract/constants';
