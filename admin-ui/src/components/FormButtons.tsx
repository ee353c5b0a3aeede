import type { IconButtonProps, OptionalDataControlsTemplateProps } from '@rjsf/utils';

/**
 * rjsf's default buttons are Bootstrap 3 glyph icons, which this console does not load:
 * buttons with words instead, so every one has a visible, accessible name.
 */
function TextButton({ label, extraClass = '', props }: { label: string; extraClass?: string; props: IconButtonProps }) {
  if (readOnly(props.registry)) return null;
  const { icon: _icon, iconType: _iconType, uiSchema: _uiSchema, registry: _registry, className, ...dom } = props;
  return (
    <button type="button" {...dom} className={`form-button ${extraClass} ${className ?? ''}`}>
      {label}
    </button>
  );
}

/** A viewer's form is read-only: no add/remove buttons at all, not merely disabled ones. */
const readOnly = (registry: { formContext?: { readOnly?: boolean } } | undefined) => registry?.formContext?.readOnly === true;

const OPTIONAL_ADD = 'Add data for optional field';
const OPTIONAL_REMOVE = 'Remove data for optional field';

export const BUTTON_TEMPLATES = {
  AddButton: (props: IconButtonProps) => <TextButton props={props} label={props.title === OPTIONAL_ADD ? 'Add section' : 'Add item'} />,
  RemoveButton: (props: IconButtonProps) => <TextButton props={props} extraClass="danger" label={props.title === OPTIONAL_REMOVE ? 'Remove section' : 'Remove'} />,
  MoveUpButton: (props: IconButtonProps) => <TextButton props={props} label="Up" />,
  MoveDownButton: (props: IconButtonProps) => <TextButton props={props} label="Down" />,
  CopyButton: (props: IconButtonProps) => <TextButton props={props} label="Copy" />,
  ClearButton: (props: IconButtonProps) => <TextButton props={props} label="Clear" />,
};

/** The add/remove control of an optional section (health checks, sticky…), with words too. */
export function OptionalDataControls(props: OptionalDataControlsTemplateProps) {
  const { id, label, onAddClick, onRemoveClick, registry } = props;
  if (readOnly(registry)) return onAddClick ? <em id={id}>not set</em> : null;
  if (onAddClick)
    return (
      <button type="button" id={id} className="form-button optional-add" onClick={onAddClick} title={label}>
        Add section
      </button>
    );
  if (onRemoveClick)
    return (
      <button type="button" id={id} className="form-button optional-remove danger" onClick={onRemoveClick} title={label}>
        Remove section
      </button>
    );
  return <em id={id}>{label}</em>;
}
